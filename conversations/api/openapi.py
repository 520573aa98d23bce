"""OpenAPI descriptions of the conversation-aware completions and the Responses API."""

from typing import Any

from janserver.api.openapi import (
    errors,
    json_doc,
    ref,
    register_components,
    sse_content,
)

_OPEN = {"additionalProperties": True}

register_components(
    {
        "ConvChatCompletionRequest": {
            "allOf": [
                ref("ChatCompletionRequest"),
                {
                    "type": "object",
                    "properties": {
                        "conversation": {
                            "type": ["string", "null"],
                            "description": "`conv_…`; none starts a new conversation.",
                        },
                        "store": {"type": "boolean", "default": False},
                        "store_reasoning": {"type": "boolean", "default": False},
                    },
                },
            ]
        },
        "ConversationTurnMetadata": {
            "type": "object",
            "description": "The first event of a stream, `metadata` of a JSON answer.",
            "properties": {
                "conversation_id": {"type": "string"},
                "conversation_created": {"type": "boolean"},
                "conversation_title": {"type": ["string", "null"]},
                "ask_item_id": {"type": "string"},
                "completion_item_id": {"type": "string"},
                "store": {"type": "boolean"},
                "store_reasoning": {"type": "boolean"},
            },
        },
        "ResponseCreateRequest": {
            "type": "object",
            "required": ["model", "input"],
            "properties": {
                "model": {"type": "string"},
                "input": {"type": ["string", "array"]},
                "instructions": {"type": ["string", "null"]},
                "previous_response_id": {"type": ["string", "null"]},
                "conversation": {"type": ["string", "object", "null"]},
                "store": {"type": "boolean", "default": True},
                "stream": {"type": "boolean", "default": False},
                "background": {"type": "boolean", "default": False},
                "tools": {"type": "array", "items": {"type": "object"}},
                "tool_choice": {"type": ["string", "object"]},
                "max_output_tokens": {"type": "integer", "minimum": 1},
                "max_tool_calls": {"type": "integer", "minimum": 1},
                "temperature": {"type": "number"},
                "top_p": {"type": "number"},
                "metadata": {"type": "object"},
                "text": {"type": "object"},
            },
            **_OPEN,
        },
        "Response": {
            "type": "object",
            "required": ["id", "object", "created_at", "status", "model", "output"],
            "properties": {
                "id": {"type": "string"},
                "object": {"const": "response"},
                "created_at": {"type": "integer"},
                "status": {
                    "enum": [
                        "queued",
                        "in_progress",
                        "completed",
                        "incomplete",
                        "failed",
                        "cancelled",
                    ]
                },
                "model": {"type": "string"},
                "output": {"type": "array", "items": {"type": "object"}},
                "usage": {"type": ["object", "null"]},
                "error": {"type": ["object", "null"]},
                "incomplete_details": {"type": ["object", "null"]},
                "previous_response_id": {"type": ["string", "null"]},
                "conversation": {"type": ["object", "null"]},
                "metadata": {"type": "object"},
            },
            **_OPEN,
        },
        "ResponseStreamEvent": {
            "type": "object",
            "description": "One typed event (`event: <type>`), numbered by "
            "`sequence_number`: response.created, response.in_progress, output item, "
            "content part, text, reasoning and function call events, then exactly one "
            "of response.completed, response.incomplete or response.failed.",
            "required": ["type", "sequence_number"],
            "properties": {
                "type": {"type": "string"},
                "sequence_number": {"type": "integer"},
            },
            **_OPEN,
        },
        "ResponseDeleted": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "object": {"const": "response.deleted"},
                "deleted": {"const": True},
            },
        },
        "ResponseItemList": {
            "type": "object",
            "properties": {
                "object": {"const": "list"},
                "data": {"type": "array", "items": {"type": "object"}},
                "first_id": {"type": ["string", "null"]},
                "last_id": {"type": ["string", "null"]},
                "has_more": {"type": "boolean"},
            },
        },
    }
)

CONV_CHAT_COMPLETIONS: dict[str, Any] = {
    "post": {
        "operationId": "createConversationChatCompletion",
        "summary": "Jan: a chat completion continuing (or starting) a stored conversation.",
        "tags": ["conversations"],
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
                "description": "A retry with the same key gets the first answer again.",
            }
        ],
        "requestBody": {
            **json_doc(ref("ConvChatCompletionRequest")),
            "required": True,
        },
        "responses": {
            "200": {
                "description": "The answer with its `metadata`; with `stream: true` a "
                "metadata event, then the chat completion's events.",
                "content": {
                    "application/json": {"schema": ref("ChatCompletion")},
                    **sse_content(ref("ChatCompletionChunk")),
                },
            },
            **errors(400, 401, 403, 404, 413, 429, 502, 503, 504),
            "409": json_doc(ref("Error"), "The Idempotency-Key is in use."),
        },
    }
}

_STREAM_OR_OBJECT = {
    "200": {
        "description": "The response object, or with `stream: true` its events.",
        "content": {
            "application/json": {"schema": ref("Response")},
            **sse_content(ref("ResponseStreamEvent")),
        },
    }
}

RESPONSES: dict[str, Any] = {
    "post": {
        "operationId": "createResponse",
        "tags": ["responses"],
        "requestBody": {**json_doc(ref("ResponseCreateRequest")), "required": True},
        "responses": {
            **_STREAM_OR_OBJECT,
            **errors(400, 401, 403, 404, 413, 429, 502, 503, 504),
        },
    }
}

RESPONSE_DETAIL: dict[str, Any] = {
    "get": {
        "operationId": "getResponse",
        "tags": ["responses"],
        "parameters": [
            {"name": "stream", "in": "query", "schema": {"type": "boolean"}},
            {
                "name": "starting_after",
                "in": "query",
                "schema": {"type": "integer", "minimum": -1},
                "description": "Resume a background response's events after this one.",
            },
        ],
        "responses": {**_STREAM_OR_OBJECT, **errors(400, 401, 403, 404)},
    },
    "delete": {
        "operationId": "deleteResponse",
        "tags": ["responses"],
        "responses": {
            "200": json_doc(ref("ResponseDeleted")),
            **errors(401, 403, 404),
        },
    },
}

RESPONSE_CANCEL: dict[str, Any] = {
    "post": {
        "operationId": "cancelResponse",
        "tags": ["responses"],
        "responses": {"200": json_doc(ref("Response")), **errors(400, 401, 403, 404)},
    }
}

RESPONSE_INPUT_ITEMS: dict[str, Any] = {
    "get": {
        "operationId": "listInputItems",
        "tags": ["responses"],
        "parameters": [
            {"name": "limit", "in": "query", "schema": {"type": "integer"}},
            {"name": "order", "in": "query", "schema": {"enum": ["asc", "desc"]}},
            {"name": "after", "in": "query", "schema": {"type": "string"}},
        ],
        "responses": {
            "200": json_doc(ref("ResponseItemList")),
            **errors(400, 401, 403, 404),
        },
    }
}
