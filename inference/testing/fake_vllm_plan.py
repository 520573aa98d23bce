"""Per-request plan of the fake vLLM server: server defaults plus request overrides."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from inference.testing.fake_vllm_logprobs import fake_text

Kind = Literal["chat", "completion"]

CHAT_ONLY_MODES = frozenset({"reasoning", "tool_calls", "tools_auto"})
CONTENT_MODES = CHAT_ONLY_MODES | {"extra"}
PRE_HEADER_FAULTS = frozenset({"error_500", "hang_before_headers", "garbage", "html"})
MID_STREAM_FAULTS = frozenset(
    {"drop_mid_stream", "stall_mid_stream", "error_mid_stream"}
)
FAULT_MODES = PRE_HEADER_FAULTS | MID_STREAM_FAULTS
MODES = CONTENT_MODES | FAULT_MODES | {"slow_first_token", "linger_after_done"}
MODE_HEADER = "X-Fake-Mode"
DEFAULT_TOOL = "get_weather"
DEFAULT_ARGUMENTS = ('{"location": "', "Paris", '", "unit": "', "celsius", '"}')
# What a string argument of a schema-derived call holds (tools_auto mode).
FAKE_STRING = "fake query"
UNLIMITED = 1 << 30


class PlanError(ValueError):
    """The request cannot be served; answered with a 400 like vLLM's."""


class UnknownModel(LookupError):
    """The request names a model this server does not serve (a 404)."""


@dataclass(frozen=True, slots=True)
class FakeSettings:
    """Server-wide defaults; a request overrides any of them under `fake`."""

    tokens: int = 16
    delay_ms: float = 0.0
    mode: frozenset[str] = frozenset()
    first_token_delay_ms: float = 1000.0
    drop_after: int = 2
    reasoning_tokens: int = 8
    tool_calls: int = 1
    error_status: int = 500


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything one response needs, resolved before the first byte."""

    kind: Kind
    model: str
    stream: bool
    modes: frozenset[str]
    settings: FakeSettings
    include_usage: bool
    logprobs: int | None
    prompt_tokens: int
    reasoning_count: int
    content_count: int
    finish_reason: str
    tool_name: str
    tool_arguments: tuple[str, ...] = DEFAULT_ARGUMENTS
    # A stop sequence met: the text of the last token before it, and the sequence.
    content_tail: str = ""
    stop_reason: str | None = None

    @property
    def content_tokens(self) -> int:
        return self.content_count + (1 if self.content_tail else 0)

    @property
    def fault(self) -> str | None:
        """Return this request's fault mode (the first by name if several)."""
        faults = self.modes & FAULT_MODES
        return min(faults) if faults else None

    @property
    def slow_first_token(self) -> bool:
        return "slow_first_token" in self.modes

    @property
    def linger_after_done(self) -> bool:
        return "linger_after_done" in self.modes

    @property
    def extra(self) -> bool:
        return "extra" in self.modes

    @property
    def tool_calls(self) -> int:
        return self.settings.tool_calls if "tool_calls" in self.modes else 0


def parse_modes(value: object) -> frozenset[str]:
    """Parse modes from a comma-separated string or a list of strings."""
    if value is None:
        return frozenset()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple | set | frozenset):
        raise PlanError("fake.mode must be a string or a list of strings")
    modes = frozenset(str(item).strip() for item in items) - {"", "normal"}
    if unknown := modes - MODES:
        raise PlanError(f"Unknown fake mode(s): {', '.join(sorted(unknown))}.")
    return modes


def settings_override(
    settings: FakeSettings, fake: object, header_mode: str | None
) -> FakeSettings:
    """Apply the `X-Fake-Mode` header, then the body's `fake` object."""
    changes: dict[str, Any] = {}
    if header_mode is not None:
        changes["mode"] = parse_modes(header_mode)
    if fake is not None and not isinstance(fake, dict):
        raise PlanError("fake must be an object.")
    for key, value in (fake or {}).items():
        changes[key] = _override_value(settings, key, value)
    return dataclasses.replace(settings, **changes) if changes else settings


def _override_value(settings: FakeSettings, key: str, value: object) -> object:
    if key == "mode":
        return parse_modes(value)
    if key not in _NUMERIC_FIELDS:
        raise PlanError(f"Unknown fake option: {key}.")
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PlanError(f"fake.{key} must be a non-negative number.")
    return type(getattr(settings, key))(value)


_NUMERIC_FIELDS = frozenset(
    field.name for field in dataclasses.fields(FakeSettings) if field.name != "mode"
)


def make_plan(
    kind: Kind, body: Mapping[str, Any], settings: FakeSettings, models: tuple[str, ...]
) -> Plan:
    """Resolve one request's plan; raise PlanError or UnknownModel."""
    model = body.get("model") or models[0]
    if model not in models:
        raise UnknownModel(model)
    modes = settings.mode if kind == "chat" else settings.mode - CHAT_ONLY_MODES
    tool_arguments: tuple[str, ...] = DEFAULT_ARGUMENTS
    if "tools_auto" in modes:
        modes = _tools_auto(modes, body)
        tool_arguments = _schema_arguments(body)
    budget = _max_tokens(body)
    wanted_reasoning = settings.reasoning_tokens if "reasoning" in modes else 0
    wanted_content = 0 if "tool_calls" in modes else settings.tokens
    reasoning = min(wanted_reasoning, budget)
    content = min(wanted_content, budget - reasoning)
    plan = Plan(
        kind=kind,
        model=model,
        stream=body.get("stream") is True,
        modes=modes,
        settings=settings,
        include_usage=_include_usage(body),
        logprobs=_logprobs(kind, body),
        prompt_tokens=_prompt_tokens(kind, body),
        reasoning_count=reasoning,
        content_count=content,
        finish_reason=_finish_reason(modes, wanted_reasoning + wanted_content > budget),
        tool_name=_tool_name(body),
        tool_arguments=tool_arguments,
    )
    return _stopped(plan, _stop_sequences(body))


def _stop_sequences(body: Mapping[str, Any]) -> list[str]:
    value = body.get("stop")
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise PlanError("stop must be a string or a list of strings.")
    return [s for s in items if s]


def _stopped(plan: Plan, stops: list[str]) -> Plan:
    """End the content before the first stop sequence in it, as vLLM does: the
    sequence is not part of the output, and the finish reason is `stop`."""
    text = fake_text(plan.content_count)
    found = [(text.find(stop), stop) for stop in stops if stop in text]
    if not found:
        return plan
    end, stop = min(found)
    count = 0
    while len(fake_text(count + 1)) <= end:
        count += 1
    return dataclasses.replace(
        plan,
        content_count=count,
        content_tail=text[len(fake_text(count)) : end],
        finish_reason="stop",
        stop_reason=stop,
    )


def _max_tokens(body: Mapping[str, Any]) -> int:
    value: object = body.get("max_completion_tokens")
    if value is None:
        value = body.get("max_tokens")
    if value is None:
        return UNLIMITED
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PlanError("max_tokens must be at least 1.")
    return value


def _finish_reason(modes: frozenset[str], truncated: bool) -> str:
    if "tool_calls" in modes:
        return "tool_calls"
    return "length" if truncated else "stop"


def _include_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _logprobs(kind: Kind, body: Mapping[str, Any]) -> int | None:
    """Return the number of top logprobs wanted, or None for no logprobs."""
    value = body.get("logprobs")
    if kind == "chat":
        top = body.get("top_logprobs")
        return (top if isinstance(top, int) else 0) if value is True else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _prompt_tokens(kind: Kind, body: Mapping[str, Any]) -> int:
    """Estimate prompt tokens as the number of words (vLLM would tokenize)."""
    if kind == "chat":
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise PlanError("messages must be a non-empty list.")
        return max(1, sum(_words(message) for message in messages))
    prompt = body.get("prompt")
    if prompt is None:
        raise PlanError("prompt is required.")
    return max(1, _words(prompt))


def _words(value: object) -> int:
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, dict):
        return _words(value.get("content")) + _words(value.get("text"))
    if isinstance(value, list):
        return sum(1 if isinstance(item, int) else _words(item) for item in value)
    return 0


def _forced_name(body: Mapping[str, Any]) -> str | None:
    """The function a named `tool_choice` forces, if any."""
    choice = body.get("tool_choice")
    function = choice.get("function") if isinstance(choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) else None


def _chosen_function(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The offered function the model calls: the one a named `tool_choice` forces,
    else the first offered."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return None
    functions = [
        tool["function"]
        for tool in tools
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict)
    ]
    forced = _forced_name(body)
    for function in functions:
        if forced is None or function.get("name") == forced:
            return function
    return None


def _tool_name(body: Mapping[str, Any]) -> str:
    function = _chosen_function(body)
    name = function.get("name") if function is not None else None
    return name if isinstance(name, str) else DEFAULT_TOOL


def _tools_auto(modes: frozenset[str], body: Mapping[str, Any]) -> frozenset[str]:
    """`tools_auto`: call a tool when the request offers tools and its last message
    is not a tool result (as a model that looks something up, then answers); always
    when `tool_choice` is `required` or names a function, never when it is `none`."""
    modes = modes - {"tools_auto"}
    tools = body.get("tools")
    messages = body.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    answered = isinstance(last, dict) and last.get("role") == "tool"
    choice = body.get("tool_choice")
    if not isinstance(tools, list) or not tools or choice == "none":
        return modes
    if not answered or choice == "required" or _forced_name(body) is not None:
        return modes | {"tool_calls"}
    return modes


def _first_schema(body: Mapping[str, Any]) -> dict[str, Any]:
    function = _chosen_function(body)
    schema = function.get("parameters") if function is not None else None
    return schema if isinstance(schema, dict) else {}


SAMPLE_VALUES: dict[str, Any] = {
    "string": FAKE_STRING,
    "integer": 2,
    "number": 2,
    "boolean": True,
    "array": [],
    "object": {},
}


def _schema_arguments(body: Mapping[str, Any]) -> tuple[str, ...]:
    """Arguments that satisfy the first tool's schema: its required properties, each
    with a sample value of its type, sent in two fragments."""
    schema = _first_schema(body)
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    required = schema.get("required")
    names = required if isinstance(required, list) else []
    arguments = {}
    for name in names:
        spec = properties.get(name)
        kind = spec.get("type") if isinstance(spec, dict) else "string"
        arguments[name] = SAMPLE_VALUES.get(kind if isinstance(kind, str) else "", "")
    text = json.dumps(arguments)
    middle = len(text) // 2
    return (text[:middle], text[middle:])
