"""The outbound address policy: what each reach may connect to, in any spelling, and
where it is enforced (registration, the relay's resolver, the control plane's pin)."""

import http.server
import ipaddress
import json
import threading

import pytest

from inference import egress, provider_client, upstream
from inference.egress import Reach
from inference.services import provider_create
from janserver.errors import InvalidRequest, ServiceUnavailable
from orgs.tests.factories import OrganizationFactory

ALWAYS_REFUSED = [
    "169.254.169.254",  # cloud metadata (link-local)
    "fe80::1",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "100.100.100.200",  # Alibaba Cloud metadata
    "::ffff:169.254.169.254",  # IPv4-mapped IPv6
    "0.0.0.0",  # noqa: S104 (an address refused, not bound)
    "::",
    "224.0.0.1",
    "255.255.255.255",
]
INTERNAL = ["127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "fc00::1", "100.64.0.1", "::ffff:10.0.0.1"]  # fmt: skip
PUBLIC = ["8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("reach", list(Reach))
@pytest.mark.parametrize("address", ALWAYS_REFUSED)
def test_link_local_metadata_and_unroutable_addresses_are_never_reached(address, reach):
    assert egress.refusal(ipaddress.ip_address(address), reach) is not None


@pytest.mark.parametrize("address", INTERNAL)
def test_internal_addresses_are_the_operators_only(address, settings):
    settings.EGRESS_ALLOWED_RANGES = []
    parsed = ipaddress.ip_address(address)
    assert egress.refusal(parsed, Reach.OPERATOR) is None
    assert egress.refusal(parsed, Reach.TENANT) == (
        "a loopback or private address (an operator may allow its range)"
    )


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_everyones(address):
    for reach in Reach:
        assert egress.refusal(ipaddress.ip_address(address), reach) is None


def test_the_operator_allows_ranges_to_organizations(settings):
    settings.EGRESS_ALLOWED_RANGES = ["10.20.0.0/16"]
    assert egress.refusal(ipaddress.ip_address("10.20.3.4"), Reach.TENANT) is None
    assert egress.refusal(ipaddress.ip_address("10.21.3.4"), Reach.TENANT) is not None
    settings.EGRESS_ALLOWED_RANGES = ["169.254.0.0/16"]  # never, even allowed
    assert egress.refusal(ipaddress.ip_address("169.254.169.254"), Reach.TENANT)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("0xa9fea9fe", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),
        ("[::ffff:a9fe:a9fe]", "::ffff:169.254.169.254"),
        ("localhost", None),
        ("model.example.com", None),
    ],
)
def test_literal_addresses_are_read_in_every_spelling(host, address):
    found = egress.literal_address(host)
    assert found == (ipaddress.ip_address(address) if address else None)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("base_url", "scoped"),
    [
        ("http://0xa9fea9fe/v1", False),
        ("http://[::ffff:169.254.169.254]/v1", False),
        ("http://2852039166/v1", False),
        ("http://127.0.0.1:8000/v1", True),
        ("http://[::ffff:10.0.0.1]/v1", True),
    ],
)
def test_registration_refuses_forbidden_literals(base_url, scoped, settings):
    settings.EGRESS_ALLOWED_RANGES = []
    organization = OrganizationFactory() if scoped else None
    with pytest.raises(InvalidRequest) as raised:
        provider_create(name="P", base_url=base_url, organization=organization)
    assert raised.value.param == "base_url"
    assert raised.value.message.startswith("The base URL must not point at a ")


@pytest.mark.django_db
def test_registration_writes_a_literal_in_its_canonical_form():
    provider = provider_create(name="P", base_url="http://0x7f000001:8000/v1")
    assert provider.base_url == "http://127.0.0.1:8000/v1"


async def test_the_relay_never_connects_to_a_name_resolving_to_a_forbidden_address(
    fake, settings
):
    """localhost is a name: checked on the address it resolves to, at connect time."""
    settings.EGRESS_ALLOWED_RANGES = []
    port = fake.base_url.rsplit(":", 1)[1].split("/")[0]
    before = fake.recorder.total_requests
    with pytest.raises(ServiceUnavailable) as raised:
        await upstream.open_stream(
            base_url=f"http://localhost:{port}/v1",
            path="chat/completions",
            body=b"{}",
            api_key=None,
            request_id=None,
            reach=Reach.TENANT,
        )
    assert raised.value.message == upstream.REFUSED
    assert fake.recorder.total_requests == before  # nothing reached the server
    await upstream.aclose()


async def test_the_relay_refuses_a_forbidden_literal_before_connecting(settings):
    settings.EGRESS_ALLOWED_RANGES = []
    with pytest.raises(ServiceUnavailable):
        await upstream.open_stream(
            base_url="http://169.254.169.254/v1",
            path="chat/completions",
            body=b"{}",
            api_key=None,
            request_id=None,
        )


@pytest.fixture
def model_list_server():
    """A model server on 127.0.0.1 that records the Host header of every request."""
    hosts: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hosts.append(self.headers["Host"])
            body = json.dumps({"data": [{"id": "m1"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], hosts
    server.shutdown()
    server.server_close()


def test_the_control_plane_pins_an_allowed_address(model_list_server, settings):
    """The name is resolved and checked here; the request keeps its Host."""
    settings.EGRESS_ALLOWED_RANGES = []
    port, hosts = model_list_server
    name_url = f"http://localhost:{port}/v1"
    assert provider_client.probe(base_url=name_url, reach=Reach.TENANT) is False
    assert hosts == []  # refused before any connection
    models = provider_client.models_fetch(base_url=name_url, reach=Reach.OPERATOR)
    assert [model["id"] for model in models] == ["m1"]
    assert hosts == [f"localhost:{port}"]
