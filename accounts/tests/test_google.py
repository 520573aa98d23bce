"""Google login, offline: Google's certificate and token endpoints are faked with `responses`."""

import base64
import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import responses
from allauth.socialaccount.models import SocialAccount
from allauth.socialaccount.providers.google.views import ACCESS_TOKEN_URL, CERTS_URL
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.core.cache import cache

from accounts.google import GoogleNotConfigured
from accounts.models import User
from accounts.oauth_state import InvalidState
from accounts.tests.factories import UserFactory
from accounts.tests.signed_in import REFRESH, assert_signed_in, me
from janserver import auth_cache
from janserver.tests.expected import UNAUTHENTICATED
from orgs.models import Project

pytestmark = pytest.mark.django_db

CLIENT_ID = "test-client.apps.googleusercontent.com"
CLIENT_SECRET = "test-client-secret-" + "s" * 32
REDIRECT_URL = "https://app.example.com/auth/google/callback"
KID = "test-kid-1"
ADA = ("ada@example.com", "Ada Lovelace", False)  # email, name, is_guest
STATE = "jan_oauth_state"
INVALID_STATE = {
    "error": {
        "message": InvalidState.default_message,
        "type": "invalid_request_error",
        "param": "state",
        "code": "invalid_state",
    }
}


def _certificate_pem(key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.now(tz=UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def google_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(autouse=True)
def google_settings(settings):
    settings.OAUTH2_GOOGLE_CLIENT_ID = CLIENT_ID
    settings.OAUTH2_GOOGLE_CLIENT_SECRET = CLIENT_SECRET
    settings.OAUTH2_GOOGLE_REDIRECT_URL = REDIRECT_URL
    settings.SOCIALACCOUNT_PROVIDERS = {
        "google": {
            "APPS": [{"client_id": CLIENT_ID, "secret": CLIENT_SECRET, "key": ""}],
            "SCOPE": ["openid", "email", "profile"],
            "AUTH_PARAMS": {"access_type": "online"},
            "OAUTH_PKCE_ENABLED": True,
            "FETCH_USERINFO": False,
        }
    }
    cache.clear()
    auth_cache.reset_for_tests()
    return settings


@pytest.fixture
def google(google_key):
    """Google's certificates endpoint; any other outside request fails."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(CERTS_URL, json={KID: _certificate_pem(google_key)})
        yield mock


def id_token(key, *, kid=KID, **claims):
    now = int(time.time())
    payload = {
        "iss": "https://accounts.google.com",
        "aud": CLIENT_ID,
        "azp": CLIENT_ID,
        "sub": "100000000000000000001",
        "email": "ada@example.com",
        "email_verified": True,
        "name": "Ada Lovelace",
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def token_response(token):
    return {
        "access_token": "ya29.test-access-token",
        "expires_in": 3599,
        "token_type": "Bearer",
        "scope": "openid email profile",
        "id_token": token,
    }


def start(client):
    """Begin a login; return the authorization URL's query and the state cookie."""
    response = client.get("/v1/auth/google/login")
    assert response.status_code == 200
    return parse_qs(urlsplit(response.json()["url"]).query), response.cookies[STATE]


def callback(client, *, code="4/test-code", state):
    return client.post(
        "/v1/auth/google/callback",
        {"code": code, "state": state},
        content_type="application/json",
    )


def login(client, google, key, **claims):
    """Run the whole flow for an ID token signed by `key` with `claims`."""
    _, cookie = start(client)
    google.post(ACCESS_TOKEN_URL, json=token_response(id_token(key, **claims)))
    return callback(client, state=cookie.value)


def test_login_url_has_pkce_the_exact_redirect_uri_and_the_cookie_state(
    client, settings
):
    """Neither the Host header nor query parameters move the redirect URI or scope."""
    settings.ALLOWED_HOSTS = ["*"]
    response = client.get(
        "/v1/auth/google/login?redirect_uri=https://evil.example/&scope=admin",
        HTTP_HOST="evil.example",
    )
    assert response.status_code == 200
    url = response.json()["url"]
    assert response.json() == {"object": "google.login.url", "url": url}
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    query = parse_qs(urlsplit(url).query)
    cookie = response.cookies[STATE]
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [REDIRECT_URL]
    assert query["response_type"] == ["code"]
    assert set(query["scope"][0].split(" ")) == {"openid", "email", "profile"}
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert query["state"] == [cookie.value]
    assert len(cookie.value) >= 43
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["secure"] is True
    assert cookie["path"] == "/"
    assert cookie["max-age"] == 600
    again, _ = start(client)
    assert (again["state"], again["code_challenge"]) != (
        query["state"],
        query["code_challenge"],
    )


@pytest.mark.parametrize("route", ["login", "callback"])
@pytest.mark.parametrize("missing", ["app", "redirect-url"])
def test_google_not_configured_is_503(client, settings, route, missing):
    if missing == "app":
        settings.SOCIALACCOUNT_PROVIDERS = {"google": {"APPS": []}}
    else:
        settings.OAUTH2_GOOGLE_REDIRECT_URL = ""
    if route == "login":
        response = client.get("/v1/auth/google/login")
    else:
        response = callback(client, state="s")
    assert response.status_code == 503
    assert response.json() == {
        "error": {
            "message": GoogleNotConfigured.default_message,
            "type": "server_error",
            "param": None,
            "code": "service_unavailable",
        }
    }


def test_first_login_registers_a_user_with_a_default_project(
    client, google, google_key
):
    query, _ = start(client)
    google.post(ACCESS_TOKEN_URL, json=token_response(id_token(google_key)))
    response = callback(client, state=query["state"][0])
    assert_signed_in(response)
    assert response.cookies[STATE].value == ""
    user = User.objects.get()
    assert (user.email, user.name, user.is_guest) == ADA
    account = SocialAccount.objects.get(user=user)
    assert (account.provider, account.uid) == ("google", "100000000000000000001")
    assert Project.objects.get(memberships__user=user).name == "Default Project"
    assert me(client, response) == {
        "object": "me",
        "id": user.public_id,
        "email": "ada@example.com",
        "name": "Ada Lovelace",
    }


def test_the_code_is_exchanged_with_the_pkce_verifier(client, google, google_key):
    """Google gets the code, the exact redirect URI and the verifier of the challenge."""
    query, _ = start(client)
    google.post(ACCESS_TOKEN_URL, json=token_response(id_token(google_key)))
    callback(client, code="4/the-code", state=query["state"][0])
    [exchange] = [c for c in google.calls if c.request.url == ACCESS_TOKEN_URL]
    sent = parse_qs(exchange.request.body)
    verifier = sent["code_verifier"][0]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert challenge.rstrip(b"=").decode() == query["code_challenge"][0]
    assert sent["code"] == ["4/the-code"]
    assert sent["redirect_uri"] == [REDIRECT_URL]
    assert sent["grant_type"] == ["authorization_code"]
    assert sent["client_id"] == [CLIENT_ID]


def test_returning_user_is_found_by_sub(client, google, google_key):
    """The same `sub` logs in as the same user, even after an email change."""
    first = me(client, login(client, google, google_key))
    second = login(client, google, google_key, email="ada@new.example.com")
    assert second.status_code == 200
    assert me(client, second)["id"] == first["id"]
    assert User.objects.count() == 1
    assert SocialAccount.objects.get().extra_data["email"] == "ada@new.example.com"


def test_first_login_links_the_user_with_the_same_verified_email(
    client, google, google_key
):
    existing = UserFactory(email="ada@example.com")
    response = login(client, google, google_key, email="Ada@Example.com")
    assert response.status_code == 200
    assert me(client, response)["id"] == existing.public_id
    assert SocialAccount.objects.get().user == existing
    assert User.objects.count() == 1


def test_unverified_email_never_links_or_registers(client, google, google_key):
    existing = UserFactory(email="ada@example.com")
    response = login(client, google, google_key, email_verified=False)
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED
    assert not SocialAccount.objects.exists()
    assert list(User.objects.all()) == [existing]


def test_guest_is_upgraded_in_place(client, google, google_key):
    """Same row, same public id, same projects; the guest session ends."""
    guest_cookie = client.post("/v1/auth/guest-login").cookies[REFRESH].value
    guest = User.objects.get()
    project = Project.objects.get(memberships__user=guest)
    response = login(client, google, google_key)
    assert response.status_code == 200
    user = User.objects.get()
    assert (user.pk, user.public_id) == (guest.pk, guest.public_id)
    assert (user.email, user.name, user.is_guest) == ADA
    assert Project.objects.get(memberships__user=user) == project
    assert SocialAccount.objects.get().user == user
    assert me(client, response)["email"] == "ada@example.com"
    client.cookies[REFRESH] = guest_cookie
    assert client.get("/v1/auth/refresh-token").status_code == 401


def test_a_failed_google_login_keeps_the_guest_session(client, google, google_key):
    client.post("/v1/auth/guest-login")
    response = login(client, google, google_key, email_verified=False)
    assert response.status_code == 401
    refreshed = client.get("/v1/auth/refresh-token")
    assert refreshed.status_code == 200
    assert User.objects.get().is_guest


def test_an_existing_google_user_is_not_merged_into_a_guest(client, google, google_key):
    login(client, google, google_key)
    client.cookies.pop(REFRESH)
    client.post("/v1/auth/guest-login")
    response = login(client, google, google_key)
    assert me(client, response)["email"] == "ada@example.com"
    assert User.objects.filter(is_guest=True).count() == 1


def test_replayed_state_is_400(client, google, google_key):
    """A state (and its code) works once, even though Google would answer again."""
    _, cookie = start(client)
    google.post(ACCESS_TOKEN_URL, json=token_response(id_token(google_key)))
    assert callback(client, state=cookie.value).status_code == 200
    client.cookies[STATE] = cookie.value
    replay = callback(client, state=cookie.value)
    assert replay.status_code == 400
    assert replay.json() == INVALID_STATE
    assert len([c for c in google.calls if c.request.url == ACCESS_TOKEN_URL]) == 1


@dataclass
class Attempt:
    """One callback: what Google's token endpoint says."""

    claims: dict[str, Any] = field(default_factory=dict)
    signer: str = "google"
    token_status: int = 200
    token_body: dict[str, Any] | None = None


@pytest.mark.parametrize("cookie", ["other", "missing"])
def test_a_state_that_does_not_match_the_cookie_is_400_like_jan(
    client, google, google_key, cookie
):
    """Jan answers 400 when the state differs from its cookie; Google is not asked."""
    _, state_cookie = start(client)
    if cookie == "missing":
        client.cookies.pop(STATE)
    response = callback(
        client, state="a" * 43 if cookie == "other" else state_cookie.value
    )
    assert response.status_code == 400
    assert response.json() == INVALID_STATE
    assert response.cookies[STATE]["max-age"] == 0
    assert not [c for c in google.calls if c.request.url == ACCESS_TOKEN_URL]


FAILURES = {
    "bad-signature": Attempt(signer="other"),
    "wrong-audience": Attempt(
        claims={"aud": "someone-else.apps.googleusercontent.com"}
    ),
    "wrong-issuer": Attempt(claims={"iss": "https://evil.example"}),
    "expired": Attempt(claims={"exp": int(time.time()) - 60}),
    "unknown-kid": Attempt(claims={"kid": "not-a-google-kid"}),
    "hs256": Attempt(signer="hs256"),
    "token-endpoint-error": Attempt(
        token_status=400,
        token_body={"error": "invalid_grant", "error_description": "Bad Request"},
    ),
    "no-id-token": Attempt(token_body={"access_token": "ya29.x", "expires_in": 1}),
}


def _signed(attempt, google_key, other_key):
    if attempt.signer == "hs256":
        payload = jwt.decode(id_token(google_key), options={"verify_signature": False})
        return jwt.encode(
            payload, CLIENT_SECRET, algorithm="HS256", headers={"kid": KID}
        )
    key = google_key if attempt.signer == "google" else other_key
    return id_token(key, **attempt.claims)


@pytest.mark.parametrize("name", FAILURES)
def test_every_failure_is_the_same_401(client, google, google_key, other_key, name):
    """Each row changes one thing from the happy path; the state cookie goes too."""
    attempt = FAILURES[name]
    _, cookie = start(client)
    body = attempt.token_body or token_response(_signed(attempt, google_key, other_key))
    google.post(ACCESS_TOKEN_URL, json=body, status=attempt.token_status)
    response = callback(client, state=cookie.value)
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.cookies[STATE]["max-age"] == 0
    assert not User.objects.exists()
    assert not SocialAccount.objects.exists()


@pytest.mark.parametrize(
    ("body", "param"),
    [({"state": "s"}, "code"), ({"code": "c"}, "state")],
)
def test_callback_requires_code_and_state(client, body, param):
    response = client.post(
        "/v1/auth/google/callback", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "This field is required.",
            "type": "invalid_request_error",
            "param": param,
            "code": "missing_required_parameter",
        }
    }
