"""CORS: exact origins and '*.' subdomain wildcards from ALLOWED_CORS_HOSTS."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from janserver.env import cors_origin_rules

pytestmark = pytest.mark.django_db

HOSTS = ["https://app.example.com", "*.jan.example", "https://*.corp.io:8443"]


@pytest.fixture(autouse=True)
def _cors(settings):
    exact, patterns = cors_origin_rules(HOSTS)
    settings.CORS_ALLOWED_ORIGINS = exact
    settings.CORS_ALLOWED_ORIGIN_REGEXES = patterns


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.com", True),
        ("http://app.example.com", False),
        ("https://evil.example.com", False),
        ("https://chat.jan.example", True),
        ("http://a.b.jan.example", True),
        ("https://jan.example", False),
        ("https://evil-jan.example", False),
        ("https://chat.jan.example.evil.com", False),
        ("https://x.corp.io:8443", True),
        ("https://x.corp.io", False),
        ("null", False),
    ],
)
def test_preflight_allows_only_configured_origins(client, origin, allowed):
    response = client.options(
        "/v1/models",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert (response.get("Access-Control-Allow-Origin") == origin) is allowed
    if allowed:
        assert response["Access-Control-Allow-Credentials"] == "true"


def test_responses_expose_the_request_id_to_browsers(client):
    response = client.get("/healthcheck", headers={"Origin": "https://app.example.com"})
    assert response["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "X-Request-ID" in response["Access-Control-Expose-Headers"]


@pytest.mark.parametrize(
    "entry", ["https://app.*.com", "*example.com", "https://*", "*.*.com"]
)
def test_malformed_wildcards_are_refused_at_start(entry):
    with pytest.raises(ImproperlyConfigured):
        cors_origin_rules([entry])
