"""What a service answers, as plain values, and the one place it becomes a response.

Services of the OpenAI endpoints return an Answer; only the views (api/ modules) turn
it into an HTTP response, with answer_response().
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.http import HttpResponse

from janserver.http.pumped import Pump, PumpedResponse, event_stream


@dataclass(frozen=True, slots=True)
class Answer:
    """A JSON body, or an event stream written by `pump`, with extra headers."""

    body: bytes = b""
    pump: Pump | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def answer_response(answer: Answer) -> HttpResponse | PumpedResponse:
    """Return the HTTP response of an Answer."""
    if answer.pump is not None:
        return event_stream(answer.pump, answer.headers)
    return HttpResponse(
        answer.body, content_type="application/json", headers=answer.headers
    )
