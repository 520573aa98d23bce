"""Validate a Responses API request body and translate its options to chat options.

Unknown top-level fields (vLLM extras such as `top_k`) are passed to the upstream chat
body, minus the gateway's deny-list; Responses-only options the gateway cannot honour
are refused with a 400 naming the field.
"""

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from conversations.responses.options import (
    chat_tool,
    max_tool_calls_clean,
    text_config,
    tool_choice,
    tools_clean,
)
from conversations.validation import items_clean, metadata_clean, text_max_chars
from inference.payloads import (
    DENIED_FIELDS,
    bool_field,
    is_number,
    model_field,
)
from janserver.errors import InvalidRequest, MissingParameter
from janserver.http.json_body import object_loads

# Fields of the Responses API itself: never forwarded as they are.
RESPONSES_FIELDS = frozenset(
    {
        "model",
        "input",
        "instructions",
        "previous_response_id",
        "conversation",
        "store",
        "stream",
        "background",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_output_tokens",
        "max_tool_calls",
        "temperature",
        "top_p",
        "metadata",
        "text",
        "reasoning",
        "user",
        # Accepted and ignored: they have no meaning in front of vLLM.
        "include",
        "truncation",
        "service_tier",
        "store_reasoning",
        "prompt_cache_key",
        "prompt_cache_retention",
        "safety_identifier",
        "stream_options",
        "top_logprobs",
    }
)
# Chat fields the gateway builds itself: a pass-through field must not replace them.
BUILT_FIELDS = frozenset(
    {"messages", "stream", "stream_options", "n", "max_completion_tokens"}
)
UNSUPPORTED = ("prompt", "conversation_id")


def max_input_items() -> int:
    """Return how many input items one request may carry."""
    return int(settings.RESPONSES_MAX_INPUT_ITEMS)


@dataclass
class ResponseRequest:
    """A validated Responses request; `chat` holds the chat options it maps to."""

    model: str
    input_items: list[dict[str, Any]]
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation_id: str | None = None
    store: bool = True
    stream: bool = False
    background: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    chat: dict[str, Any] = field(default_factory=dict)


def _optional_string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"`{name}` must be a string.", param=name)
    if len(value) > text_max_chars():
        raise InvalidRequest(f"`{name}` is too long.", param=name)
    return value


def _input(value: Any) -> list[dict[str, Any]]:
    if value is None:
        raise MissingParameter("Missing required parameter: 'input'.", param="input")
    if isinstance(value, str):
        value = [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list):
        raise InvalidRequest(
            "`input` must be a string or an array of items.", param="input"
        )
    if not value:
        raise InvalidRequest("`input` must not be empty.", param="input")
    return items_clean(value, "input", max_items=max_input_items())


def _conversation(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("id")
    if not isinstance(value, str) or not value:
        raise InvalidRequest(
            "`conversation` must be a conversation id or an object with an `id`.",
            param="conversation",
        )
    return value


def _sampling(body: dict[str, Any]) -> dict[str, Any]:
    """Return max_output_tokens, temperature and top_p as checked (None when absent)."""
    limit = body.get("max_output_tokens")
    if limit is not None and (
        not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
    ):
        raise InvalidRequest(
            "`max_output_tokens` must be a positive integer.", param="max_output_tokens"
        )
    found: dict[str, Any] = {"max_output_tokens": limit}
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and not is_number(value):
            raise InvalidRequest(f"`{name}` must be a number.", param=name)
        found[name] = value
    return found


def _reasoning(value: Any) -> dict[str, Any] | None:
    # Reasoning effort is the model's business in front of vLLM: accepted, echoed.
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidRequest("`reasoning` must be an object.", param="reasoning")
    return {"effort": value.get("effort"), "summary": value.get("summary")}


def _passed_through(body: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in body.items()
        if key not in RESPONSES_FIELDS
        and key not in DENIED_FIELDS
        and key not in BUILT_FIELDS
    }


def _parameters(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the echoed parameters and the chat options they map to."""
    tools = tools_clean(body.get("tools"))
    choice, chat_choice = tool_choice(body.get("tool_choice"), tools)
    text, response_format = text_config(body.get("text"))
    sampling = _sampling(body)
    parallel = bool_field(body, "parallel_tool_calls", True)
    user = _optional_string(body, "user")
    parameters = {
        "tools": tools,
        "tool_choice": choice,
        "parallel_tool_calls": parallel,
        "max_tool_calls": max_tool_calls_clean(body.get("max_tool_calls")),
        "text": text,
        "reasoning": _reasoning(body.get("reasoning")),
        "user": user,
        **sampling,
    }
    chat: dict[str, Any] = _passed_through(body)
    if tools:
        functions = [chat_tool(tool) for tool in tools if tool["type"] == "function"]
        if functions:  # server tools are added once resolved (tooling.py)
            chat["tools"] = functions
        chat["parallel_tool_calls"] = parallel
    if chat_choice is not None and (tools or chat_choice == "none"):
        chat["tool_choice"] = chat_choice
    if response_format is not None:
        chat["response_format"] = response_format
    if sampling["max_output_tokens"] is not None:
        chat["max_tokens"] = sampling["max_output_tokens"]
    for name in ("temperature", "top_p", "user"):
        if parameters[name] is not None:
            chat[name] = parameters[name]
    return parameters, chat


def _check_unsupported(body: dict[str, Any]) -> None:
    for name in UNSUPPORTED:
        if body.get(name) is not None:
            raise InvalidRequest(f"`{name}` is not supported.", param=name)


def request_parse(raw: bytes) -> ResponseRequest:
    """Validate a Responses request body; raise InvalidRequest naming the bad field."""
    body = object_loads(raw)
    model = model_field(body)
    _check_unsupported(body)
    request = ResponseRequest(
        model=model,
        input_items=_input(body.get("input")),
        instructions=_optional_string(body, "instructions"),
        previous_response_id=_optional_string(body, "previous_response_id"),
        conversation_id=_conversation(body.get("conversation")),
        store=bool_field(body, "store", True),
        stream=bool_field(body, "stream", False),
        background=bool_field(body, "background", False),
        metadata=metadata_clean(body.get("metadata")),
    )
    request.parameters, request.chat = _parameters(body)
    _check_combinations(request)
    return request


def _check_combinations(request: ResponseRequest) -> None:
    if request.previous_response_id and request.conversation_id:
        raise InvalidRequest(
            "`previous_response_id` and `conversation` cannot be used together.",
            param="conversation",
        )
    if request.background and not request.store:
        # As OpenAI: a background response lives in the store until it is fetched.
        raise InvalidRequest(
            "Background responses require `store` to be true.", param="store"
        )
