"""OpenAPI descriptions of the OpenAI inference routes (see janserver.api.openapi)."""

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
        "ChatMessage": {
            "type": "object",
            "required": ["role"],
            "properties": {
                "role": {
                    "enum": [
                        "system",
                        "developer",
                        "user",
                        "assistant",
                        "tool",
                        "function",
                    ]
                },
                "content": {"type": ["string", "array", "null"]},
                "name": {"type": "string"},
                "tool_calls": {"type": "array", "items": {"type": "object"}},
                "tool_call_id": {"type": "string"},
            },
            **_OPEN,
        },
        "ChatCompletionRequest": {
            "type": "object",
            "description": "OpenAI's chat completion request. Fields not listed (vLLM's "
            "`top_k`, `chat_template_kwargs`, …) are passed to the model server, except "
            "those that would choose its URL, template or request id.",
            "required": ["model", "messages"],
            "properties": {
                "model": {"type": "string"},
                "messages": {
                    "type": "array",
                    "minItems": 1,
                    "items": ref("ChatMessage"),
                },
                "stream": {"type": "boolean", "default": False},
                "stream_options": {
                    "type": "object",
                    "properties": {"include_usage": {"type": "boolean"}},
                },
                "n": {"type": "integer", "minimum": 1},
                "max_tokens": {"type": "integer", "minimum": 1},
                "max_completion_tokens": {"type": "integer", "minimum": 1},
                "temperature": {"type": "number"},
                "top_p": {"type": "number"},
                "presence_penalty": {"type": "number"},
                "frequency_penalty": {"type": "number"},
                "stop": {"type": ["string", "array", "null"]},
                "tools": {"type": "array", "items": {"type": "object"}},
                "tool_choice": {"type": ["string", "object"]},
                "response_format": {"type": "object"},
                "user": {"type": "string"},
            },
            **_OPEN,
        },
        "ChatCompletion": {
            "type": "object",
            "required": ["id", "object", "created", "model", "choices"],
            "properties": {
                "id": {"type": "string"},
                "object": {"const": "chat.completion"},
                "created": {"type": "integer"},
                "model": {"type": "string"},
                "choices": {"type": "array", "items": {"type": "object"}},
                "usage": {"type": ["object", "null"]},
            },
            **_OPEN,
        },
        "ChatCompletionChunk": {
            "type": "object",
            "description": "One `data:` event of a stream; the stream ends with "
            '`data: [DONE]`, or with one `data: {"error": …}` event and no [DONE] '
            "when it fails after it started.",
            "required": ["id", "object", "choices"],
            "properties": {
                "id": {"type": "string"},
                "object": {"const": "chat.completion.chunk"},
                "choices": {"type": "array", "items": {"type": "object"}},
                "usage": {"type": ["object", "null"]},
            },
            **_OPEN,
        },
        "CompletionRequest": {
            "type": "object",
            "required": ["model", "prompt"],
            "properties": {
                "model": {"type": "string"},
                "prompt": {"type": ["string", "array"]},
                "stream": {"type": "boolean", "default": False},
                "max_tokens": {"type": "integer", "minimum": 1},
                "temperature": {"type": "number"},
                "n": {"type": "integer", "minimum": 1},
            },
            **_OPEN,
        },
        "Completion": {
            "type": "object",
            "required": ["id", "object", "choices"],
            "properties": {
                "id": {"type": "string"},
                "object": {"const": "text_completion"},
                "choices": {"type": "array", "items": {"type": "object"}},
                "usage": {"type": ["object", "null"]},
            },
            **_OPEN,
        },
        "Model": {
            "type": "object",
            "required": ["id", "object", "created", "owned_by"],
            "properties": {
                "id": {"type": "string"},
                "object": {"const": "model"},
                "created": {"type": "integer"},
                "owned_by": {"type": "string"},
                "provider_id": {"type": "string"},
                "provider_type": {"type": "string"},
                "provider_vendor": {"type": "string"},
                "provider_name": {"type": "string"},
            },
        },
        "ModelList": {
            "type": "object",
            "required": ["object", "data"],
            "properties": {
                "object": {"const": "list"},
                "data": {"type": "array", "items": ref("Model")},
            },
        },
    }
)

PROVIDER_DATA = {
    "name": "X-Provider-Data",
    "in": "header",
    "required": False,
    "schema": {"enum": ["true", "false"]},
    "description": "`true` adds the serving provider's id, type, vendor and name.",
}

MODELS_LIST: dict[str, Any] = {
    "get": {
        "operationId": "listModels",
        "summary": "The models the caller may use.",
        "tags": ["models"],
        "parameters": [PROVIDER_DATA],
        "responses": {"200": json_doc(ref("ModelList")), **errors(401, 403)},
    }
}

MODEL_DETAIL: dict[str, Any] = {
    "get": {
        "operationId": "retrieveModel",
        "tags": ["models"],
        "parameters": [PROVIDER_DATA],
        "responses": {"200": json_doc(ref("Model")), **errors(401, 403, 404)},
    }
}


def _generation(
    operation_id: str, request: str, answer: str, chunk: str, summary: str
) -> dict[str, Any]:
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["inference"],
            "requestBody": {**json_doc(ref(request)), "required": True},
            "responses": {
                "200": {
                    "description": "The answer, or with `stream: true` its events.",
                    "content": {
                        "application/json": {"schema": ref(answer)},
                        **sse_content(ref(chunk)),
                    },
                },
                **errors(400, 401, 403, 404, 413, 429, 502, 503, 504),
            },
        }
    }


COMPLETIONS = _generation(
    "createCompletion",
    "CompletionRequest",
    "Completion",
    "Completion",
    "A (legacy) text completion.",
)
