"""OpenAPI descriptions of /v1/chat/completions: creating (plain, with Jan's
`conversation`, with OpenAI's `store`) and OpenAI's stored chat completions."""

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
        "ChatCompletionCreateRequest": {
            "allOf": [
                ref("ChatCompletionRequest"),
                {
                    "type": "object",
                    "properties": {
                        "store": {
                            "type": "boolean",
                            "default": False,
                            "description": "Keep the completion (GET "
                            "/v1/chat/completions/{completion_id}).",
                        },
                        "metadata": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                            "description": "Kept with a stored completion.",
                        },
                        "conversation": {
                            "oneOf": [
                                {"type": "string"},
                                {
                                    "type": "object",
                                    "required": ["id"],
                                    "properties": {"id": {"type": "string"}},
                                },
                            ],
                            "description": "Jan: a conversation (`conv_…`) whose "
                            "history is prepended and which keeps this turn; the "
                            "answer (the stream's last chunk) carries "
                            "`conversation: {id, title}`.",
                        },
                        "store_reasoning": {"type": "boolean", "default": False},
                    },
                },
            ]
        },
        "StoredChatCompletion": {
            "allOf": [
                ref("ChatCompletion"),
                {
                    "type": "object",
                    "properties": {"metadata": {"type": "object"}},
                },
            ]
        },
        "StoredChatCompletionList": {
            "type": "object",
            "required": ["object", "data", "has_more"],
            "properties": {
                "object": {"const": "list"},
                "data": {"type": "array", "items": ref("StoredChatCompletion")},
                "first_id": {"type": ["string", "null"]},
                "last_id": {"type": ["string", "null"]},
                "has_more": {"type": "boolean"},
            },
        },
        "StoredChatMessage": {
            "type": "object",
            "required": ["id", "role"],
            "properties": {
                "id": {"type": "string"},
                "role": {"type": "string"},
                "content": {"type": ["string", "null"]},
                "content_parts": {
                    "type": ["array", "null"],
                    "items": {"type": "object"},
                },
            },
            **_OPEN,
        },
        "StoredChatMessageList": {
            "type": "object",
            "required": ["object", "data", "has_more"],
            "properties": {
                "object": {"const": "list"},
                "data": {"type": "array", "items": ref("StoredChatMessage")},
                "first_id": {"type": ["string", "null"]},
                "last_id": {"type": ["string", "null"]},
                "has_more": {"type": "boolean"},
            },
        },
        "StoredChatCompletionUpdate": {
            "type": "object",
            "required": ["metadata"],
            "properties": {"metadata": {"type": ["object", "null"]}},
        },
        "StoredChatCompletionDeleted": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "object": {"const": "chat.completion.deleted"},
                "deleted": {"const": True},
            },
        },
    }
)

_PAGE = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 100}},
    {"name": "order", "in": "query", "schema": {"enum": ["asc", "desc"]}},
    {"name": "after", "in": "query", "schema": {"type": "string"}},
]

CHAT_COMPLETIONS: dict[str, Any] = {
    "post": {
        "operationId": "createChatCompletion",
        "summary": "A chat completion from the model, relayed as it is generated; "
        "kept with `store: true`, a turn of `conversation` when given.",
        "tags": ["inference"],
        "requestBody": {
            **json_doc(ref("ChatCompletionCreateRequest")),
            "required": True,
        },
        "responses": {
            "200": {
                "description": "The answer, or with `stream: true` its events.",
                "content": {
                    "application/json": {"schema": ref("ChatCompletion")},
                    **sse_content(ref("ChatCompletionChunk")),
                },
            },
            **errors(400, 401, 403, 404, 413, 429, 502, 503, 504),
        },
    },
    "get": {
        "operationId": "listChatCompletions",
        "summary": "The stored chat completions (created with `store: true`).",
        "tags": ["chat completions"],
        "parameters": [
            {"name": "model", "in": "query", "schema": {"type": "string"}},
            {
                "name": "metadata",
                "in": "query",
                "style": "deepObject",
                "explode": True,
                "schema": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                },
                "description": "`metadata[key]=value`: only those holding every pair.",
            },
            *_PAGE,
        ],
        "responses": {
            "200": json_doc(ref("StoredChatCompletionList")),
            **errors(400, 401, 403),
        },
    },
}

CHAT_COMPLETION_DETAIL: dict[str, Any] = {
    "get": {
        "operationId": "getChatCompletion",
        "tags": ["chat completions"],
        "responses": {
            "200": json_doc(ref("StoredChatCompletion")),
            **errors(401, 403, 404),
        },
    },
    "post": {
        "operationId": "updateChatCompletion",
        "tags": ["chat completions"],
        "requestBody": {
            **json_doc(ref("StoredChatCompletionUpdate")),
            "required": True,
        },
        "responses": {
            "200": json_doc(ref("StoredChatCompletion")),
            **errors(400, 401, 403, 404),
        },
    },
    "delete": {
        "operationId": "deleteChatCompletion",
        "tags": ["chat completions"],
        "responses": {
            "200": json_doc(ref("StoredChatCompletionDeleted")),
            **errors(401, 403, 404),
        },
    },
}

CHAT_COMPLETION_MESSAGES: dict[str, Any] = {
    "get": {
        "operationId": "getChatCompletionMessages",
        "tags": ["chat completions"],
        "parameters": _PAGE,
        "responses": {
            "200": json_doc(ref("StoredChatMessageList")),
            **errors(400, 401, 403, 404),
        },
    }
}
