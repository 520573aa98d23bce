"""The soak's mixed traffic: one loop per kind of client, every answer accounted for.

Each kind's loop repeats one scenario until the deadline; every request states the
statuses it expects, and `Tally` counts answers by (kind, status): anything else (a
5xx, an unexpected status, a broken stream, a transport error) is a failure, kept with
a sample. Every credential the traffic creates or receives goes into `Secrets` for the
leak scan (bench.soak_scan).

Clients deliberately presenting bad credentials connect from 127.0.0.2, login clients
from 127.0.0.3: the server counts failed credentials (AUTH_FAILURE_RATE) and logins
(AUTH_THROTTLE_RATE) per client address, as in production, so that neither budget is
spent by, or shown to, the well-behaved clients on 127.0.0.1.
"""

import asyncio
import base64
import json
import secrets
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.soak_scan import Secrets

MODEL = "jan-v1-4b"  # the shared provider "Jan" (bootstrap)
PRIVATE_MODEL = "soak-private"  # the organization's provider, which has an API key
BAD_ADDRESS = "127.0.0.2"
LOGIN_ADDRESS = "127.0.0.3"
# One login and one refresh per round: 24 a minute, under AUTH_THROTTLE_RATE (30/min).
LOGIN_ROUND_SECONDS = 5.0
FAKE = {"tokens": 24, "delay_ms": 2}
SAMPLES = 20


@dataclass
class Tally:
    """Answers by (kind, status); the unexpected ones also kept as samples."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    unexpected: Counter[tuple[str, str]] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    def record(
        self, kind: str, status: int | str, expected: Collection[int], detail: str = ""
    ) -> bool:
        """Count one answer; return whether it was expected."""
        self.counts[kind, str(status)] += 1
        if isinstance(status, int) and status in expected:
            return True
        self.unexpected[kind, str(status)] += 1
        if len(self.samples) < SAMPLES:
            self.samples.append(
                f"{kind} {status} (expected {sorted(expected)}): {detail[:300]}"
            )
        return False

    @property
    def failures(self) -> int:
        return sum(self.unexpected.values())

    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Answer:
    status: int
    body: bytes
    headers: Any

    def json(self) -> Any:
        return json.loads(self.body)


class Unexpected(Exception):
    """An answer the scenario cannot go on from (already counted as a failure)."""


@dataclass
class Soak:
    """What every loop shares: where the gateway is, credentials, the tally."""

    base_url: str
    admin_key: str
    project_key: str
    tally: Tally
    secrets: Secrets
    sessions: dict[str, aiohttp.ClientSession] = field(default_factory=dict)
    # Credentials revoked by the admin loop, presented again by the bad one.
    revoked: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=50))
    stale_refresh: deque[str] = field(default_factory=lambda: deque(maxlen=20))

    async def call(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        key: str | None = None,
        body: Any = None,
        data: bytes | None = None,
        expect: Collection[int] = (200,),
        headers: dict[str, str] | None = None,
        address: str = "127.0.0.1",
    ) -> Answer:
        """Send one request, count its answer; raise Unexpected for a 2xx expected
        and not had (the scenario depends on it)."""
        sent = dict(headers or {})
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        try:
            async with self.sessions[address].request(
                method, self.base_url + path, data=data, headers=sent
            ) as response:
                answer = Answer(
                    response.status, await response.read(), response.headers
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.tally.record(kind, type(exc).__name__, expect, f"{method} {path}")
            raise Unexpected from exc
        detail = f"{method} {path}: {answer.body[:200]!r}"
        if not self.tally.record(kind, answer.status, expect, detail) and any(
            200 <= status < 300 for status in expect
        ):
            raise Unexpected
        return answer

    async def stream(
        self,
        kind: str,
        path: str,
        body: dict,
        *,
        key: str,
        ended: Callable[[bytes], bool],
    ) -> bytes:
        """POST a streaming request; count it as its status, or as `incomplete
        stream` when its body carries an error event or `ended(body)` is false."""
        answer = await self.call(kind, "POST", path, key=key, body=body)
        if b'data: {"error"' in answer.body or not ended(answer.body):
            self.tally.counts[kind, "200"] -= 1
            detail = f"{path}: {answer.body[-300:]!r}"
            self.tally.record(kind, "incomplete stream", (), detail)
            raise Unexpected
        return answer.body


def chat(model: str = MODEL, **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": "Tell me a story."}],
        "fake": FAKE,
        **extra,
    }


def chat_ended(body: bytes) -> bool:
    return body.endswith(b"data: [DONE]\n\n")


def response_ended(body: bytes) -> bool:
    """The last event of a Responses stream is response.completed."""
    return body.rsplit(b"event: ", 1)[-1].startswith(b"response.completed\n")


async def chat_stream(soak: Soak, round_: int) -> None:
    model = PRIVATE_MODEL if round_ % 3 == 0 else MODEL
    await soak.stream("chat stream", "/v1/chat/completions",
                      chat(model, stream=True, stream_options={"include_usage": True}),
                      key=soak.project_key, ended=chat_ended)  # fmt: skip


async def chat_json(soak: Soak, round_: int) -> None:
    model = PRIVATE_MODEL if round_ % 3 == 0 else MODEL
    answer = await soak.call("chat", "POST", "/v1/chat/completions",
                             key=soak.project_key, body=chat(model))  # fmt: skip
    if answer.json()["choices"][0]["message"]["content"] == "":
        soak.tally.record("chat", "empty reply", (), answer.body.decode()[:200])
    await soak.call("chat", "POST", "/v1/completions", key=soak.project_key,
                    body={"model": model, "prompt": "Once", "fake": FAKE})  # fmt: skip


async def conversation(soak: Soak, round_: int) -> None:
    """Create a conversation, add items, take turns in it, read it; delete every
    other one (the rest stay: the database grows through the run)."""
    kind, key = "conversation", soak.project_key
    message = {"type": "message", "role": "user",
               "content": [{"type": "input_text", "text": f"hello {round_}"}]}  # fmt: skip
    created = await soak.call(kind, "POST", "/v1/conversations", key=key,
                              body={"title": f"soak {round_}", "metadata": {"round": str(round_)},
                                    "items": [message]})  # fmt: skip
    conv = created.json()["id"]
    await soak.call(kind, "POST", f"/v1/conversations/{conv}/items", key=key,
                    body={"items": [message, message]})  # fmt: skip
    turn = chat(conversation=conv, store=True, store_reasoning=True)
    await soak.stream(kind, "/v1/conv/chat/completions", {**turn, "stream": True},
                      key=key, ended=chat_ended)  # fmt: skip
    answer = await soak.call(
        kind, "POST", "/v1/conv/chat/completions", key=key, body=turn
    )
    if answer.json()["metadata"]["conversation_id"] != conv:
        soak.tally.record(kind, "wrong conversation", (), answer.body.decode()[:200])
    items = await soak.call(
        kind, "GET", f"/v1/conversations/{conv}/items?limit=20", key=key
    )
    if len(items.json()["data"]) != 7:  # 1 + 2 added, 2 turns of 2
        soak.tally.record(kind, "items lost", (), items.body.decode()[:300])
    await soak.call(kind, "GET", f"/v1/conversations/{conv}", key=key)
    await soak.call(kind, "GET", "/v1/conversations?limit=5", key=key)
    if round_ % 2:
        await soak.call(kind, "DELETE", f"/v1/conversations/{conv}", key=key)


async def responses(soak: Soak, round_: int) -> None:
    """A streamed response, a stored one continued by another, a background one
    polled to its end; read them back, delete some."""
    kind, key = "responses", soak.project_key
    base = {"model": MODEL, "input": f"Say hi {round_}", "fake": FAKE}
    await soak.stream(kind, "/v1/responses", {**base, "stream": True}, key=key,
                      ended=response_ended)  # fmt: skip
    first = (await soak.call(kind, "POST", "/v1/responses", key=key, body=base)).json()
    second = await soak.call(kind, "POST", "/v1/responses", key=key,
                             body={**base, "previous_response_id": first["id"]})  # fmt: skip
    await soak.call(kind, "GET", f"/v1/responses/{first['id']}", key=key)
    await soak.call(
        kind, "GET", f"/v1/responses/{second.json()['id']}/input_items", key=key
    )
    background = await soak.call(kind, "POST", "/v1/responses", key=key,
                                 body={**base, "background": True})  # fmt: skip
    await _poll_done(soak, kind, background.json()["id"])
    if round_ % 2:
        await soak.call(kind, "DELETE", f"/v1/responses/{first['id']}", key=key)


async def _poll_done(soak: Soak, kind: str, response_id: str) -> None:
    deadline = time.monotonic() + 60  # a hang guard: a background reply takes ~0.1 s
    while time.monotonic() < deadline:
        got = await soak.call(
            kind, "GET", f"/v1/responses/{response_id}", key=soak.project_key
        )
        status = got.json()["status"]
        if status not in ("queued", "in_progress"):
            if status != "completed":
                soak.tally.record(
                    kind, f"background {status}", (), got.body.decode()[:300]
                )
            return
        await asyncio.sleep(0.1)
    soak.tally.record(kind, "background never ended", (), response_id)


async def admin(soak: Soak, round_: int) -> None:
    """An owner's admin key at work: projects, their keys (used once, then revoked),
    admin keys (likewise), users, providers."""
    kind, key = "admin", soak.admin_key
    await soak.call(kind, "GET", "/v1/organization/projects?limit=20", key=key)
    project = (await soak.call(kind, "POST", "/v1/organization/projects", key=key,
                               body={"name": f"soak project {round_}"})).json()["id"]  # fmt: skip
    keys = f"/v1/organization/projects/{project}/api_keys"
    made = (await soak.call(kind, "POST", keys, key=key,
                            body={"description": f"soak {round_}"})).json()["result"]  # fmt: skip
    soak.secrets.add(f"project key {round_}", made["key"])
    await soak.call(kind, "GET", "/v1/models", key=made["key"])
    await soak.call(kind, "GET", keys, key=key)
    await soak.call(kind, "DELETE", f"{keys}/{made['id']}", key=key)
    soak.revoked.append(("/v1/models", made["key"]))
    admin_key = (await soak.call(kind, "POST", "/v1/organization/admin_api_keys", key=key,
                                 body={"name": f"soak {round_}"})).json()  # fmt: skip
    soak.secrets.add(f"admin key {round_}", admin_key["value"])
    await soak.call(kind, "GET", "/v1/organization/users", key=admin_key["value"])
    await soak.call(
        kind, "DELETE", f"/v1/organization/admin_api_keys/{admin_key['id']}", key=key
    )
    soak.revoked.append(("/v1/organization/projects", admin_key["value"]))
    await soak.call(kind, "GET", "/v1/organization/admin_api_keys?limit=5", key=key)
    await soak.call(kind, "GET", "/v1/organization/models/providers", key=key)
    if round_ % 2:
        await soak.call(
            kind, "POST", f"/v1/organization/projects/{project}/archive", key=key
        )


async def login(soak: Soak, round_: int) -> None:
    """A guest signs in, works with its access token, refreshes, logs out; the
    rotated refresh token goes to the bad loop. Paced under AUTH_THROTTLE_RATE."""
    kind, started = "login", time.monotonic()
    at = LOGIN_ADDRESS
    signed_in = await soak.call(kind, "POST", "/v1/auth/guest-login", address=at)
    access, refresh = signed_in.json()["access_token"], _refresh_cookie(signed_in)
    soak.secrets.add(f"access token {round_}", access)
    soak.secrets.add(f"refresh token {round_}", refresh)
    await soak.call(kind, "GET", "/v1/auth/me", key=access, address=at)
    await soak.call(
        kind,
        "POST",
        "/v1/conversations",
        key=access,
        body={"title": "guest"},
        address=at,
    )
    await soak.call(
        kind, "POST", "/v1/chat/completions", key=access, body=chat(), address=at
    )
    cookie = {"Cookie": f"jan_refresh_token={refresh}"}
    renewed = await soak.call(
        kind, "GET", "/v1/auth/refresh-token", headers=cookie, address=at
    )
    soak.secrets.add(
        f"access token {round_} (refreshed)", renewed.json()["access_token"]
    )
    fresh = _refresh_cookie(renewed)
    soak.secrets.add(f"refresh token {round_} (rotated)", fresh)
    soak.stale_refresh.append(refresh)
    await soak.call(kind, "GET", "/v1/auth/logout",
                    headers={"Cookie": f"jan_refresh_token={fresh}"}, address=at)  # fmt: skip
    await asyncio.sleep(max(0.0, LOGIN_ROUND_SECONDS - (time.monotonic() - started)))


def _refresh_cookie(answer: Answer) -> str:
    for header in answer.headers.getall("Set-Cookie", []):
        name, _, rest = header.partition("=")
        if name.strip() == "jan_refresh_token":
            return rest.split(";", 1)[0]
    raise Unexpected("no refresh cookie")


def forged_jwt() -> str:
    """An HS512-shaped token signed with a key the server does not have."""

    def part(value: dict[str, Any] | bytes) -> str:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    claims = {"sub": "user_x", "token_type": "access", "exp": int(time.time()) + 600}
    return ".".join([part({"alg": "HS512", "typ": "JWT"}), part(claims),
                     part(secrets.token_bytes(64))])  # fmt: skip


# Presenting bad credentials: 401, or 429 once AUTH_FAILURE_RATE is spent.
REFUSED = (401, 429)


async def bad_credentials(soak: Soak, round_: int) -> None:
    kind, at = "bad credentials", BAD_ADDRESS
    chat_path = "/v1/chat/completions"
    await soak.call(kind, "POST", chat_path, key=f"sk-project_{secrets.token_hex(20)}",
                    body=chat(), expect=REFUSED, address=at)  # fmt: skip
    await soak.call(kind, "GET", "/v1/organization/projects",
                    key=f"sk-admin_{secrets.token_hex(20)}", expect=REFUSED, address=at)  # fmt: skip
    await soak.call(
        kind, "GET", "/v1/models", key=forged_jwt(), expect=REFUSED, address=at
    )
    await soak.call(
        kind, "GET", "/v1/models", key="not a key", expect=REFUSED, address=at
    )
    await soak.call(kind, "GET", "/v1/models", expect=(401,), address=at)
    if soak.revoked:
        path, key = soak.revoked[round_ % len(soak.revoked)]
        await soak.call(kind, "GET", path, key=key, expect=REFUSED, address=at)
    if soak.stale_refresh:
        stale = soak.stale_refresh[round_ % len(soak.stale_refresh)]
        await soak.call(kind, "GET", "/v1/auth/refresh-token", expect=REFUSED,
                        headers={"Cookie": f"jan_refresh_token={stale}"}, address=at)  # fmt: skip
    await asyncio.sleep(0.2)


async def bad_requests(soak: Soak, round_: int) -> None:
    """Good credentials, bad requests: each refused with its 4xx."""
    kind, key = "bad requests", soak.project_key
    post = "POST"
    await soak.call(kind, post, "/v1/chat/completions", key=key, data=b'{"model": ',
                    headers={"Content-Type": "application/json"}, expect=(400,))  # fmt: skip
    await soak.call(kind, post, "/v1/chat/completions", key=key,
                    body={"messages": []}, expect=(400,))  # fmt: skip
    await soak.call(kind, post, "/v1/chat/completions", key=key,
                    body=chat("no-such-model"), expect=(404,))  # fmt: skip
    await soak.call(kind, post, "/v1/chat/completions", key=key,
                    body={**chat(), "messages": "hi"}, expect=(400,))  # fmt: skip
    await soak.call(kind, post, "/v1/responses", key=key,
                    body={"model": MODEL, "input": 42}, expect=(400,))  # fmt: skip
    await soak.call(kind, "GET", f"/v1/conversations/conv_{secrets.token_hex(12)}",
                    key=key, expect=(404,))  # fmt: skip
    await soak.call(kind, post, f"/v1/conversations/conv_{secrets.token_hex(12)}/items",
                    key=key, body={"items": "x"}, expect=(400, 404))  # fmt: skip
    await soak.call(kind, "GET", f"/v1/responses/resp_{secrets.token_hex(12)}",
                    key=key, expect=(404,))  # fmt: skip
    await soak.call(kind, post, "/v1/chat/completions", key=soak.admin_key,
                    body=chat(), expect=(403,))  # fmt: skip
    await soak.call(kind, "GET", "/v1/organization/projects", key=key, expect=(403,))
    await soak.call(kind, post, "/v1/organization/projects", key=soak.admin_key,
                    body={"name": ""}, expect=(400,))  # fmt: skip
    await asyncio.sleep(0.1)


Scenario = Callable[[Soak, int], Awaitable[None]]

# Each kind's scenario and how many clients run it at once.
KINDS: dict[str, tuple[Scenario, int]] = {
    "chat stream": (chat_stream, 4),
    "chat": (chat_json, 2),
    "conversation": (conversation, 2),
    "responses": (responses, 2),
    "admin": (admin, 1),
    "login": (login, 1),
    "bad credentials": (bad_credentials, 1),
    "bad requests": (bad_requests, 1),
}


async def run_kind(soak: Soak, kind: str, scenario: Scenario, deadline: float) -> int:
    """Repeat `scenario` until `deadline`; return the rounds run. An exception
    other than Unexpected is a failure too (counted), and the loop goes on."""
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        try:
            await scenario(soak, rounds)
        except Unexpected:
            await asyncio.sleep(0.2)
        except Exception as exc:  # a broken body or shape: counted, not fatal
            soak.tally.record(kind, f"client error {type(exc).__name__}", (), repr(exc))
            await asyncio.sleep(0.2)
    return rounds


async def run_traffic(
    soak: Soak, seconds: float, then: Callable[[Soak], Awaitable[None]] | None = None
) -> None:
    """Run every kind's clients for `seconds` against `soak.base_url` (127.0.0.1),
    then `then(soak)` if given, on the same client sessions."""
    if not soak.base_url.startswith("http://127.0.0.1:"):
        raise ValueError("load is only ever sent to 127.0.0.1")
    timeout = aiohttp.ClientTimeout(total=120)  # a hang guard
    for address in ("127.0.0.1", BAD_ADDRESS, LOGIN_ADDRESS):
        connector = aiohttp.TCPConnector(limit=32, local_addr=(address, 0))
        soak.sessions[address] = aiohttp.ClientSession(
            connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
        )
    deadline = time.monotonic() + seconds
    try:
        await asyncio.gather(*(
            run_kind(soak, kind, scenario, deadline)
            for kind, (scenario, clients) in KINDS.items()
            for _ in range(clients)
        ))  # fmt: skip
        if then is not None:
            await then(soak)
    finally:
        for session in soak.sessions.values():
            await session.close()
