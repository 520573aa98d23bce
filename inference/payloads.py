"""Validating an OpenAI inference request and building the body sent upstream."""

from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings

from janserver.errors import InvalidRequest, MissingParameter
from janserver.http.json_body import object_loads

# Never forwarded: they would pick the upstream, its chat template or its request id.
DENIED_FIELDS = frozenset(
    {
        "request_id",
        "chat_template",
        "base_url",
        "api_base",
        "api_key",
        "provider",
        "provider_id",
        "routing",
    }
)
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
NUMBER_FIELDS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")
TOKEN_FIELDS = ("max_tokens", "max_completion_tokens")
# Fields that multiply the model server's work, with their bounds: every one checked,
# so that none of them gets around another's cap (best_of around n, say).
BOOLEAN_FIELDS = ("use_beam_search", "ignore_eos", "echo")
MAX_LOGPROBS = 20  # vLLM's default max_logprobs
LOGPROB_FIELDS = ("top_logprobs", "prompt_logprobs")


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str  # "chat.completions" or "completions"
    path: str  # upstream path relative to the base URL
    input_field: str  # "messages" or "prompt"


CHAT = Endpoint("chat.completions", "chat/completions", "messages")
COMPLETIONS = Endpoint("completions", "completions", "prompt")


@dataclass(frozen=True, slots=True)
class InferenceRequest:
    endpoint: Endpoint
    body: dict[str, Any]
    model: str
    stream: bool
    wants_usage: bool
    sticky_key: str | None

    @property
    def max_tokens(self) -> tuple[str, int] | None:
        for name in TOKEN_FIELDS:
            if isinstance(self.body.get(name), int):
                return name, self.body[name]
        return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """Whether `value` is a JSON number (booleans are not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def bool_field(body: dict[str, Any], name: str, default: bool = False) -> bool:
    """Return the boolean `body[name]` (`default` when absent or null); raise
    InvalidRequest naming the field for any other type."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidRequest(f"`{name}` must be a boolean.", param=name)
    return value


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("`messages` must be a non-empty array.", param="messages")
    for index, message in enumerate(messages):
        param = f"messages[{index}]"
        if not isinstance(message, dict):
            raise InvalidRequest("Each message must be an object.", param=param)
        if message.get("role") not in ROLES:
            raise InvalidRequest(
                f"Invalid role {message.get('role')!r}.", param=f"{param}.role"
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise InvalidRequest(
                "`content` must be a string or an array.", param=f"{param}.content"
            )


def _check_prompt(prompt: Any) -> None:
    if not isinstance(prompt, str | list) or (isinstance(prompt, list) and not prompt):
        raise InvalidRequest(
            "`prompt` must be a string or a non-empty array.", param="prompt"
        )


def _check_options(body: dict[str, Any]) -> None:
    bool_field(body, "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest(
            "`stream_options` must be an object.", param="stream_options"
        )
    most = settings.INFERENCE_MAX_N
    n = body.get("n", 1)
    if n is None:
        n = 1
    if not _is_int(n) or not 1 <= n <= most:
        raise InvalidRequest(f"`n` must be an integer from 1 to {most}.", param="n")
    best_of = body.get("best_of")
    if best_of is not None and (not _is_int(best_of) or not n <= best_of <= most):
        raise InvalidRequest(
            f"`best_of` must be an integer from `n` ({n}) to {most}.", param="best_of"
        )
    for name in BOOLEAN_FIELDS:
        bool_field(body, name)
    _int_field(body, "min_tokens", 0, None)
    for name in LOGPROB_FIELDS:
        _int_field(body, name, 0, MAX_LOGPROBS)
    logprobs = body.get("logprobs")
    if logprobs is not None and not isinstance(logprobs, bool):
        _int_field(body, "logprobs", 0, MAX_LOGPROBS)  # completions: how many
    for name in TOKEN_FIELDS:
        if (
            name in body
            and body[name] is not None
            and (not _is_int(body[name]) or body[name] < 1)
        ):
            raise InvalidRequest(f"`{name}` must be a positive integer.", param=name)
    for name in NUMBER_FIELDS:
        if name in body and body[name] is not None and not is_number(body[name]):
            raise InvalidRequest(f"`{name}` must be a number.", param=name)


def _int_field(body: dict[str, Any], name: str, low: int, high: int | None) -> None:
    """Refuse `body[name]` unless absent, null or an integer within [low, high]."""
    value = body.get(name)
    if value is None:
        return
    if not _is_int(value) or value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise InvalidRequest(f"`{name}` must be an integer {bound}.", param=name)


def model_field(body: dict[str, Any]) -> str:
    """Return the request's `model`; raise MissingParameter or InvalidRequest."""
    model = body.get("model")
    if model is None or model == "":
        raise MissingParameter("You must provide a model parameter.", param="model")
    if not isinstance(model, str):
        raise InvalidRequest("`model` must be a string.", param="model")
    return model


def parse(raw: bytes, endpoint: Endpoint) -> InferenceRequest:
    """Validate a client body; raise an InvalidRequest naming the first bad field."""
    body = object_loads(raw)
    model = model_field(body)
    if endpoint.input_field not in body:
        raise MissingParameter(
            f"Missing required parameter: '{endpoint.input_field}'.",
            param=endpoint.input_field,
        )
    if endpoint is CHAT:
        _check_messages(body["messages"])
    else:
        _check_prompt(body["prompt"])
    _check_options(body)
    options = body.get("stream_options") or {}
    user = body.get("user")
    return InferenceRequest(
        endpoint=endpoint,
        body=body,
        model=model,
        stream=bool_field(body, "stream"),
        wants_usage=bool(options.get("include_usage", False)),
        sticky_key=user if isinstance(user, str) and user else None,
    )


def upstream_body(request: InferenceRequest) -> bytes:
    """The client's body minus the deny-list, always asking a stream for its usage."""
    body = {k: v for k, v in request.body.items() if k not in DENIED_FIELDS}
    if request.stream:
        body["stream_options"] = {
            **(body.get("stream_options") or {}),
            "include_usage": True,
        }
    return orjson.dumps(body)


def check_context(request: InferenceRequest, context_length: int | None) -> None:
    """Refuse a max_tokens, or a min_tokens, larger than the model's context; and a
    min_tokens larger than the max_tokens."""
    limit = request.max_tokens
    if limit is not None and context_length and limit[1] > context_length:
        raise InvalidRequest(
            f"`{limit[0]}` ({limit[1]}) is larger than the model's context "
            f"length ({context_length}).",
            param=limit[0],
        )
    least = request.body.get("min_tokens")
    if not isinstance(least, int):
        return
    ceiling = limit[1] if limit is not None else context_length
    if ceiling and least > ceiling:
        raise InvalidRequest(
            f"`min_tokens` ({least}) is larger than "
            + (
                f"`{limit[0]}` ({limit[1]})."
                if limit
                else f"the model's context length ({ceiling})."
            ),
            param="min_tokens",
        )
