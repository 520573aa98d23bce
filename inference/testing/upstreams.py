"""The upstreams of the end-to-end upstream suite, as pytest fixtures.

A test that takes the `upstream` fixture runs once against each upstream available
(see docs/upstreams.md), through a real gateway, with a project key of its own:

- `fake`: the session's fake vLLM server (inference/testing/fake_vllm.py), always;
- `llama.cpp`: the local model of `make run` (SmolLM2-135M on llama.cpp), started once
  per test process; marked `local_model`, skipped when the model is not installed, a
  failure instead with JANSERVER_LOCAL_MODEL_REQUIRED=1 (as CI sets it);
- `external`: any OpenAI-compatible server, when JANSERVER_UPSTREAM_URL (its base URL,
  with /v1) and JANSERVER_UPSTREAM_MODEL are set; JANSERVER_UPSTREAM_API_KEY and
  JANSERVER_UPSTREAM_VENDOR (vllm, llama.cpp or openai: the default) are optional.

What a real model may differ in (no stream usage, one choice whatever `n`) is its
`Capabilities`: declared for the fake and llama.cpp (a test checks the declarations
against the servers), probed once for an external server.
"""

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from inference import catalog, usage
from inference.localmodel import install
from inference.localmodel.install import MODEL_ALIAS
from inference.localmodel.processes import model_server_start, model_server_stop
from inference.models import ProviderModel, ProviderVendor, UsageRecord
from inference.services import provider_create
from inference.testing.fake_vllm import FakeVLLM
from inference.testing.fixtures import MODEL, Live, live_on
from janserver.tests.live_server import free_port

FAKE, LLAMA_CPP, EXTERNAL = "fake", "llama.cpp", "external"
URL_ENV, MODEL_ENV = "JANSERVER_UPSTREAM_URL", "JANSERVER_UPSTREAM_MODEL"
API_KEY_ENV, VENDOR_ENV = "JANSERVER_UPSTREAM_API_KEY", "JANSERVER_UPSTREAM_VENDOR"
REQUIRED_ENV = "JANSERVER_LOCAL_MODEL_REQUIRED"
# A real model on a loaded 2-core machine: hang guards, not expectations.
REQUEST_TIMEOUT = 180.0


@dataclass(frozen=True)
class Capabilities:
    """What an upstream does where OpenAI-compatible servers differ."""

    stream_usage: bool  # a stream asked for usage ends with a usage chunk
    multiple_choices: bool  # `n: 2` answers two choices


DECLARED = {
    FAKE: Capabilities(stream_usage=True, multiple_choices=False),
    LLAMA_CPP: Capabilities(stream_usage=False, multiple_choices=False),
}


@dataclass(frozen=True)
class Upstream:
    """One upstream of the suite: where it is, its model and what it can do."""

    name: str
    base_url: str
    model: str
    vendor: str
    capabilities: Capabilities
    api_key: str = ""
    fake: FakeVLLM | None = None

    def steer(self, **options: Any) -> dict[str, Any]:
        """The body fields that steer the fake (`fake`); nothing for a real server."""
        return {"fake": options} if self.fake is not None else {}


class UpstreamLive(Live):
    """A project key whose calls reach `upstream` through the live gateway."""

    def __init__(self, live: Live, upstream: Upstream) -> None:
        super().__init__(live.url, live.secret, live.fake, live.provider, live.project)
        self.upstream = upstream

    def openai(self, **kwargs: Any) -> Any:
        return super().openai(timeout=REQUEST_TIMEOUT, **kwargs)

    def usage_row(self, request_id: str) -> UsageRecord:
        """The usage row of a request, once the gateway has queued it (flushed here)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            usage.flush()
            row = UsageRecord.objects.filter(request_id=request_id).first()
            if row is not None:
                return row
            time.sleep(0.02)
        raise AssertionError(f"no usage row for {request_id}")


def local_model_or_skip() -> None:
    """Skip a test that needs the local model when it is not installed (fail in CI)."""
    if install.model_available():
        return
    reason = "the local model is not installed (make local-model)"
    if os.environ.get(REQUIRED_ENV) == "1":
        pytest.fail(f"{reason}, and {REQUIRED_ENV}=1 requires it", pytrace=False)
    pytest.skip(reason)


def probe(base_url: str, model: str, api_key: str = "") -> Capabilities:
    """Ask the upstream directly (not through the gateway) what it can do."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 2,
        "temperature": 0,
    }
    with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT) as c:
        answer = c.post("/chat/completions", json={**body, "n": 2})
        answer.raise_for_status()
        usage_options = {"stream": True, "stream_options": {"include_usage": True}}
        streamed = c.post("/chat/completions", json={**body, **usage_options})
        streamed.raise_for_status()
    events = [
        json.loads(line[6:])
        for line in streamed.text.splitlines()
        if line.startswith("data: {")
    ]
    return Capabilities(
        stream_usage=any(event.get("usage") for event in events),
        multiple_choices=len(answer.json()["choices"]) == 2,
    )


@pytest.fixture
def local_model_installed() -> None:
    local_model_or_skip()


@pytest.fixture(scope="session")
def llama_cpp_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The local model on llama.cpp, as `make run` starts it, for this test process."""
    local_model_or_skip()
    state = tmp_path_factory.mktemp("llama-cpp")
    port, said = free_port(), list[str]()
    server = model_server_start(port=port, state=state, say=said.append)
    if server is None:
        pytest.fail("\n".join(said), pytrace=False)
    yield f"http://127.0.0.1:{port}/v1"
    model_server_stop(server, state=state)


@pytest.fixture(scope="session")
def external_upstream() -> Upstream:
    """The server named by JANSERVER_UPSTREAM_URL, its capabilities probed once."""
    base_url, model = os.environ[URL_ENV].rstrip("/"), os.environ.get(MODEL_ENV, "")
    if not model:
        pytest.fail(f"{URL_ENV} is set: set {MODEL_ENV} too", pytrace=False)
    api_key = os.environ.get(API_KEY_ENV, "")
    vendor = os.environ.get(VENDOR_ENV) or ProviderVendor.OPENAI
    if vendor not in ProviderVendor.values:
        pytest.fail(f"{VENDOR_ENV} must be one of {ProviderVendor.values}")
    capabilities = probe(base_url, model, api_key)
    return Upstream(EXTERNAL, base_url, model, vendor, capabilities, api_key)


def _upstream_for(name: str, request: pytest.FixtureRequest) -> Upstream:
    if name == FAKE:
        fake: FakeVLLM = request.getfixturevalue("fake")
        vllm = ProviderVendor.VLLM
        return Upstream(FAKE, fake.base_url, MODEL, vllm, DECLARED[FAKE], fake=fake)
    if name == LLAMA_CPP:
        url = request.getfixturevalue("llama_cpp_url")
        vendor = ProviderVendor.LLAMA_CPP
        return Upstream(LLAMA_CPP, url, MODEL_ALIAS, vendor, DECLARED[LLAMA_CPP])
    return request.getfixturevalue("external_upstream")


@pytest.fixture
def upstream(
    request: pytest.FixtureRequest,
    django_db_serialized_rollback: None,
    transactional_db: None,
    clean_state: None,
    gateway_url: str,
) -> UpstreamLive:
    """A provider on one upstream of the suite, and a project key (see the module)."""
    target = _upstream_for(request.param, request)
    provider = provider_create(
        name=f"Upstream {target.name}",
        base_url=target.base_url,
        api_key=target.api_key or None,
        vendor=target.vendor,
    )
    ProviderModel.objects.create(
        provider=provider, model_id=target.model, context_length=8192
    )
    catalog.refresh()
    return UpstreamLive(live_on(gateway_url, provider, target.fake), target)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that takes `upstream` once per upstream available."""
    if "upstream" not in metafunc.fixturenames:
        return
    targets = [
        pytest.param(FAKE, id=FAKE),
        pytest.param(LLAMA_CPP, id=LLAMA_CPP, marks=pytest.mark.local_model),
    ]
    if os.environ.get(URL_ENV):
        targets.append(pytest.param(EXTERNAL, id=EXTERNAL))
    metafunc.parametrize("upstream", targets, indirect=True)
