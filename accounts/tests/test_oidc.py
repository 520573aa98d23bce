"""Single sign-on with an OpenID Connect provider, against the fake provider of
accounts/testing (a real HTTP server on 127.0.0.1 with real RSA keys)."""

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.core.cache import cache

from accounts.models import User
from accounts.oauth_state import InvalidState
from accounts.oidc import EmailDomainNotAllowed, ProviderNotConfigured
from accounts.testing.fake_oidc import FakeOIDC, run_in_thread
from accounts.tests.factories import UserFactory
from accounts.tests.signed_in import REFRESH, assert_signed_in, me
from janserver import auth_cache
from janserver.tests.expected import UNAUTHENTICATED
from orgs.models import Project

pytestmark = pytest.mark.django_db

CLIENT_ID = "janserver"
CLIENT_SECRET = "keycloak-client-secret-" + "k" * 24
REDIRECT_URL = "https://app.example.com/auth/keycloak/callback"
SUB = "f3c1a2b4-0000-4000-8000-000000000001"
STATE = "jan_oauth_state"
INVALID_STATE = {
    "error": {
        "message": InvalidState.default_message,
        "type": "invalid_request_error",
        "param": "state",
        "code": "invalid_state",
    }
}


@pytest.fixture(scope="module")
def provider_server():
    with run_in_thread(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as fake:
        yield fake


def _app(fake: FakeOIDC, **settings_overrides):
    return {
        "provider_id": "keycloak",
        "name": "Keycloak",
        "client_id": CLIENT_ID,
        "secret": CLIENT_SECRET,
        "settings": {
            "server_url": f"{fake.url}/.well-known/openid-configuration",
            "redirect_url": REDIRECT_URL,
            **settings_overrides,
        },
    }


@pytest.fixture
def fake(provider_server, settings):
    provider_server.reset()
    settings.SOCIALACCOUNT_PROVIDERS = {
        **settings.SOCIALACCOUNT_PROVIDERS,
        "openid_connect": {
            "APPS": [_app(provider_server)],
            "OAUTH_PKCE_ENABLED": True,
        },
    }
    cache.clear()
    auth_cache.reset_for_tests()
    return provider_server


def start(client, provider="keycloak"):
    response = client.get(f"/v1/auth/{provider}/login")
    assert response.status_code == 200, response.content
    return response


def authorize(url):
    """Follow the authorization URL at the fake as a browser would; return code, state."""
    answer = httpx.get(url, follow_redirects=False)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    return query["code"][0], query["state"][0]


def callback(client, *, code, state, provider="keycloak"):
    return client.post(
        f"/v1/auth/{provider}/callback",
        {"code": code, "state": state},
        content_type="application/json",
    )


def login(client, fake, **claims):
    fake.claims = claims
    code, state = authorize(start(client).json()["url"])
    return callback(client, code=code, state=state)


def test_login_url_points_at_the_discovered_endpoint_with_pkce(client, fake):
    response = start(client)
    url = response.json()["url"]
    assert response.json() == {"object": "keycloak.login.url", "url": url}
    assert url.startswith(f"{fake.url}/authorize?")
    query = parse_qs(urlsplit(url).query)
    cookie = response.cookies[STATE]
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [REDIRECT_URL]
    assert query["response_type"] == ["code"]
    assert set(query["scope"][0].split(" ")) == {"openid", "email", "profile"}
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] == [cookie.value]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == 600


def test_first_login_registers_a_user_linked_by_sub(client, fake):
    response = login(client, fake)
    assert_signed_in(response)
    assert response.cookies[STATE].value == ""
    user = User.objects.get()
    assert (user.email, user.name, user.is_guest) == (
        "ada@example.com",
        "Ada Lovelace",
        False,
    )
    account = SocialAccount.objects.get(user=user)
    assert (account.provider, account.uid) == ("keycloak", SUB)
    assert Project.objects.get(memberships__user=user).name == "Default Project"
    assert me(client, response)["id"] == user.public_id
    [exchange] = fake.token_requests
    assert exchange["redirect_uri"] == REDIRECT_URL
    assert exchange["grant_type"] == "authorization_code"


def test_returning_user_is_found_by_sub_even_with_a_new_email(client, fake):
    first = me(client, login(client, fake))
    client.cookies.pop(REFRESH)
    second = login(client, fake, email="ada@new.example.com")
    assert second.status_code == 200
    assert me(client, second)["id"] == first["id"]
    assert User.objects.count() == 1


def test_an_existing_user_with_the_email_is_never_linked_by_email(client, fake):
    """Another user with the same email is a conflict, not a login as that user."""
    existing = UserFactory(email="ada@example.com")
    response = login(client, fake)
    assert response.status_code == 409
    assert response.json() == {
        "error": {
            "message": "Another account already uses ada@example.com; it is not "
            "linked to this identity provider (an administrator can link it).",
            "type": "invalid_request_error",
            "param": None,
            "code": "account_exists",
        }
    }
    assert not SocialAccount.objects.exists()
    assert list(User.objects.all()) == [existing]


def test_a_user_linked_in_the_admin_logs_in(client, fake):
    existing = UserFactory(email="ada@example.com")
    SocialAccount.objects.create(user=existing, provider="keycloak", uid=SUB)
    response = login(client, fake)
    assert me(client, response)["id"] == existing.public_id


def test_guest_is_upgraded_in_place(client, fake):
    guest_cookie = client.post("/v1/auth/guest-login").cookies[REFRESH].value
    guest = User.objects.get()
    response = login(client, fake)
    assert response.status_code == 200
    user = User.objects.get()
    assert (user.pk, user.public_id, user.is_guest) == (
        guest.pk,
        guest.public_id,
        False,
    )
    assert user.email == "ada@example.com"
    assert SocialAccount.objects.get().user == user
    client.cookies[REFRESH] = guest_cookie
    assert client.get("/v1/auth/refresh-token").status_code == 401


def test_unverified_email_never_registers(client, fake):
    response = login(client, fake, email_verified=False)
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED
    assert not User.objects.exists()


def test_a_provider_without_email_verified_can_be_trusted_by_setting(
    client, fake, settings
):
    """Microsoft Entra ID sends no email_verified: require_verified_email false."""
    app = _app(fake, require_verified_email=False)
    settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"] = [app]
    fake.claims = {"email_verified": None}
    response = login(client, fake, email_verified=None)
    assert response.status_code == 200
    assert User.objects.get().email == "ada@example.com"


@pytest.mark.parametrize(
    ("email", "status"),
    [("ada@example.com", 200), ("Ada@Corp.Example", 200), ("eve@evil.example", 403)],
)
def test_email_domains_admit_only_the_given_domains(
    client, fake, settings, email, status
):
    app = _app(fake, email_domains=["example.com", "@corp.example"])
    settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"] = [app]
    response = login(client, fake, email=email)
    assert response.status_code == status
    if status == 403:
        assert response.json() == {
            "error": {
                "message": EmailDomainNotAllowed.default_message,
                "type": "permission_error",
                "param": None,
                "code": "email_domain_not_allowed",
            }
        }
        assert not User.objects.exists()


def test_a_provider_added_in_the_admin_works(client, fake, settings):
    """A SocialApp row (provider openid_connect) is a provider like a settings one."""
    settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"] = []
    app = _app(fake)
    SocialApp.objects.create(
        provider="openid_connect", **{**app, "provider_id": "okta"}
    )
    fake.claims = {}
    code, state = authorize(start(client, "okta").json()["url"])
    response = callback(client, code=code, state=state, provider="okta")
    assert response.status_code == 200
    assert SocialAccount.objects.get().provider == "okta"


def test_replayed_state_is_400(client, fake):
    """A state works once: a second callback with it never reaches the provider."""
    code, state = authorize(start(client).json()["url"])
    assert callback(client, code=code, state=state).status_code == 200
    client.cookies[STATE] = state
    replay = callback(client, code=code, state=state)
    assert replay.status_code == 400
    assert replay.json() == INVALID_STATE
    assert len(fake.token_requests) == 1


def test_a_state_of_another_provider_is_400(client, fake, settings):
    """A state issued for one provider does not complete a login at another."""
    other = _app(fake)
    other["provider_id"] = "entra"
    settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"].append(other)
    code, state = authorize(start(client, "entra").json()["url"])
    response = callback(client, code=code, state=state, provider="keycloak")
    assert response.status_code == 400
    assert response.json() == INVALID_STATE


@pytest.mark.parametrize("cookie", ["other", "missing"])
def test_a_state_that_does_not_match_the_cookie_is_400(client, fake, cookie):
    code, state = authorize(start(client).json()["url"])
    if cookie == "missing":
        client.cookies.pop(STATE)
    else:
        client.cookies[STATE] = "b" * 43
    response = callback(client, code=code, state=state)
    assert response.status_code == 400
    assert response.json() == INVALID_STATE
    assert response.cookies[STATE]["max-age"] == 0
    assert not fake.token_requests


FAILURES = {
    "wrong-audience": ({"aud": "another-client"}, "key"),
    "expired": ({"exp": int(time.time()) - 60, "iat": int(time.time()) - 400}, "key"),
    "wrong-issuer": ({"iss": "https://evil.example"}, "key"),
    "bad-signature": ({}, "other"),
    "hs256-with-the-client-secret": ({}, "hs256"),
}


@pytest.mark.parametrize("name", FAILURES)
def test_every_bad_id_token_is_the_same_401(client, fake, name):
    claims, signer = FAILURES[name]
    fake.signer = signer
    response = login(client, fake, **claims)
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED
    assert response.cookies[STATE]["max-age"] == 0
    assert not User.objects.exists()
    assert not SocialAccount.objects.exists()


def test_a_token_endpoint_error_is_401(client, fake):
    fake.token_error = (400, {"error": "invalid_grant"})
    response = login(client, fake)
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED


def test_a_wrong_code_is_401(client, fake):
    _, state = authorize(start(client).json()["url"])
    response = callback(client, code="not-the-code", state=state)
    assert response.status_code == 401


def test_an_unknown_provider_is_404(client, fake):
    for path in ("/v1/auth/nobody/login", "/v1/auth/openid_connect/login"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["param"] == "provider"
    response = callback(client, code="c", state="s", provider="nobody")
    assert response.status_code == 404


def test_a_provider_without_redirect_url_is_503(client, fake, settings):
    app = _app(fake)
    del app["settings"]["redirect_url"]
    settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"] = [app]
    response = client.get("/v1/auth/keycloak/login")
    assert response.status_code == 503
    assert response.json()["error"]["message"] == ProviderNotConfigured.default_message


def test_an_unreachable_provider_is_503(client, fake, settings):
    app = _app(fake)
    app["settings"]["server_url"] = (
        "http://127.0.0.1:9/.well-known/openid-configuration"
    )
    settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"] = [app]
    response = client.get("/v1/auth/keycloak/login")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
