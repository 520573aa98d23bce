"""The request pipeline of every OpenAI endpoint, its steps in the order they run.

    1. authenticate  enter(): the Bearer key or login JWT, once, in the view layer,
                     and authorize(): which kinds of credential may call (not admin keys)
    2. parse         the endpoint's parser: inference.payloads.parse,
                     conversations.completions.requests.turn_request_parse,
                     conversations.responses.requests.request_parse
    3. route         model_for(): the model in the caller's catalog, 404 otherwise
    4. admit         admit(): the one gate between a parsed request and the upstream:
                     the rate limits of the caller's organization, project and key
                     (limits.admission) reserve the request before any upstream call;
                     429 otherwise. Its Accounting holds the reservation.
    5. relay         open_upstream(): a healthy provider (sticky per conversation or
                     user), failing over only before the first byte;
                     inference.streaming.relay() is the one relay loop
                     (chat streams, conversation turns, Responses runs)
    6. account       Accounting.finish(): one usage row per request, on every exit path;
                     it settles the reservation with the real token count

The endpoints (/v1/chat/completions, /v1/completions, /v1/conv/chat/completions,
/v1/responses and its routes, /v1/models) call enter() first; their services take
the resulting Call (plain values) and return an Answer (janserver.http.answers),
which only the api/ modules turn into an HTTP response.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import orjson
from django.conf import settings
from django.http import HttpRequest

from inference import catalog, metrics, routing, upstream
from inference.accounting import Accounting, status_for
from inference.catalog import ModelEntry, Route
from inference.models import UsageStatus
from inference.payloads import InferenceRequest, upstream_body
from inference.streaming import first_event_valid
from janserver.auth import aauthenticate
from janserver.errors import (
    APIError,
    Forbidden,
    InsufficientQuota,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
    UpstreamError,
    UpstreamTimeout,
)
from janserver.principal import Principal, PrincipalKind
from limits import admission

# Who may call the OpenAI endpoints: login users and project keys, never admin keys.
ADMITTED_KINDS = frozenset({PrincipalKind.USER, PrincipalKind.PROJECT_KEY})


@dataclass(frozen=True, slots=True)
class Authorized:
    """What authorize() let through: this caller, on this endpoint."""

    principal: Principal
    endpoint: str


@dataclass(frozen=True, slots=True)
class Call:
    """One admitted API call, as plain values for the services."""

    authorized: Authorized
    request_id: str
    body: bytes
    headers: Mapping[str, str]

    @property
    def principal(self) -> Principal:
        return self.authorized.principal

    @property
    def endpoint(self) -> str:
        return self.authorized.endpoint


async def enter(request: HttpRequest, endpoint: str) -> Call:
    """Step 1: authenticate the request once, authorize it, return its Call.

    Raises Unauthenticated without a valid credential, and what authorize() raises.
    """
    principal = await aauthenticate(request)
    if principal is None:
        raise Unauthenticated()
    return Call(
        authorized=authorize(principal, endpoint),
        request_id=request.request_id,  # type: ignore[attr-defined]
        body=request.body if request.method == "POST" else b"",
        headers=request.headers,
    )


def authorize(principal: Principal, endpoint: str) -> Authorized:
    """Whether this kind of credential may call the OpenAI endpoints: Forbidden for
    admin keys."""
    if principal.kind not in ADMITTED_KINDS:
        raise Forbidden("Admin API keys can only use organization admin routes.")
    return Authorized(principal=principal, endpoint=endpoint)


async def model_for(principal: Principal, model_id: str) -> ModelEntry:
    """Step 4: the caller's model by id; unknown and foreign models are both 404."""
    snapshot = await catalog.asnapshot()
    entry = catalog.visible_models(snapshot, principal).get(model_id)
    if entry is None or not entry.routes:
        raise NotFound(
            f"The model `{model_id}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    return entry


@dataclass(slots=True)
class Opened:
    """An upstream request that answered, with its usage record."""

    account: Accounting
    route: Route
    stream: upstream.OpenStream


async def admit(
    call: Call, payload: InferenceRequest, endpoint: str, *, stream: bool | None = None
) -> Accounting:
    """Step 4: admit the request under the caller's rate limits, or raise RateLimited
    (429, OpenAI's headers) or ServiceUnavailable (the limits' store unreachable and
    failing closed). Returns step 6's record of the call, started now, holding the
    reservation; `stream` says whether the client asked for one (the upstream
    request's own setting by default). A refused request leaves its usage row too.
    """
    account = Accounting(
        principal=call.principal,
        request_id=call.request_id,
        endpoint=endpoint,
        model=payload.model,
        stream=payload.stream if stream is None else stream,
    )
    try:
        prompt, completion = estimated_tokens(payload)
        account.ticket = await admission.admit(
            call.principal,
            payload.model,
            prompt_tokens=prompt,
            completion_tokens=completion,
        )
    except RateLimited:  # the caller's own limits, not an upstream's
        account.finish(status=UsageStatus.RATE_LIMITED, http_status=429)
        raise
    except InsufficientQuota:
        account.finish(status=UsageStatus.OVER_BUDGET, http_status=429)
        raise
    except APIError as error:
        account.finish(status=status_for(error.status), http_status=error.status)
        raise
    return account


def estimated_tokens(payload: InferenceRequest) -> tuple[int, int]:
    """What a request may use at most, for token limits and budgets: its prompt's
    size in tokens (estimated as 4 bytes of JSON a token) and n times max_tokens (or the
    default reservation), settled with the real counts once it ends."""
    body = payload.body
    prompt = body.get("messages", body.get("prompt"))
    prompt_tokens = len(orjson.dumps(prompt)) // 4 + 1 if prompt is not None else 0
    limit = payload.max_tokens
    completion = limit[1] if limit else settings.RATE_LIMIT_DEFAULT_COMPLETION_TOKENS
    n = body.get("n")
    choices = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
    return prompt_tokens, completion * choices


async def open_upstream(
    payload: InferenceRequest, entry: ModelEntry, account: Accounting
) -> Opened:
    """Steps 4 and 5: open the upstream request on a healthy provider (failing over
    before the first byte). A failure finishes the usage record and is raised."""
    try:
        route, stream = await open_with_failover(payload, entry, account)
    except APIError as error:
        account.finish(status=status_for(error.status), http_status=error.status)
        raise
    return Opened(account=account, route=route, stream=stream)


def _client_error(status: int) -> APIError:
    if status == 404:
        return NotFound(
            "The model server does not serve this model.",
            param="model",
            code="model_not_found",
        )
    if status == 429:
        return RateLimited("The model server is busy. Retry shortly.")
    return InvalidRequest(
        "The model server rejected the request as invalid.", code="upstream_rejected"
    )


async def open_with_failover(
    payload: InferenceRequest, entry: ModelEntry, account: Accounting
) -> tuple[Route, upstream.OpenStream]:
    """Open the request on the first provider that answers; raise the last failure."""
    body = upstream_body(payload)
    last: APIError = ServiceUnavailable("No model server is available for this model.")
    for route in routing.candidates(entry.routes, payload.sticky_key):
        account.upstream_request()
        try:
            opened = await upstream.open_stream(
                base_url=route.base_url,
                path=payload.endpoint.path,
                body=body,
                api_key=route.api_key,
                # vLLM adopts it as its request id; llama.cpp refuses non-UUID ids.
                request_id=account.request_id if route.vendor == "vllm" else None,
                reach=route.reach,
            )
        except upstream.UpstreamStatus as answered:
            if (
                answered.status == 429
            ):  # busy, not broken: try another, stay in rotation
                last = _client_error(429)
                continue
            if answered.status < 500:
                raise _client_error(answered.status) from None
            last = _failed(
                route,
                "status",
                UpstreamError(f"The model server answered {answered.status}."),
            )
            continue
        except (ServiceUnavailable, UpstreamTimeout) as error:
            kind = "timeout" if isinstance(error, UpstreamTimeout) else "connect"
            last = _failed(route, kind, error)
            continue
        if payload.stream and not first_event_valid(opened.first_chunk):
            await opened.aclose()
            last = _failed(route, "garbage", UpstreamError())
            continue
        routing.mark_ok(route)
        account.upstream_answered(route)
        return route, opened
    raise last


def _failed(route: Route, kind: str, error: APIError) -> APIError:
    metrics.upstream_error(route.provider_name, kind)
    routing.mark_failed(route)
    return error
