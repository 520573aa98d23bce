"""The password and OIDC logins end to end: a real ASGI server on 127.0.0.1, an HTTP
client carrying the cookies as a browser would, and the fake OIDC provider."""

import re
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from django.core import mail
from django.core.cache import cache

from accounts.testing.fake_oidc import run_in_thread
from janserver import auth_cache

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long enough passphrase 42"
VERIFY_URL = "https://app.example.com/verify-email"
REDIRECT_URL = "https://app.example.com/auth/keycloak/callback"
SECRET = "keycloak-client-secret-" + "k" * 24


@pytest.fixture
def fresh(settings, django_db_serialized_rollback):
    settings.SIGNUP_MODE = "open"
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    settings.EMAIL_VERIFICATION_URL = VERIFY_URL
    cache.clear()
    auth_cache.reset_for_tests()
    return settings


def cookie(response: httpx.Response, name: str) -> str:
    """The value a Set-Cookie gave (Secure cookies: the client is on plain HTTP)."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError(f"no {name} cookie")


def test_signup_verify_login_and_refresh(gateway_url, fresh):
    with httpx.Client(base_url=gateway_url) as client:
        signup = client.post(
            "/v1/auth/signup", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert signup.json() == {
            "object": "email.verification_sent",
            "email": "ada@example.com",
        }
        [key] = re.findall(re.escape(VERIFY_URL) + r"\?key=(\S+)", mail.outbox[-1].body)
        verified = client.post("/v1/auth/verify-email", json={"key": unquote(key)})
        assert verified.status_code == 200
        login = client.post(
            "/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert login.status_code == 200
        access = login.json()["access_token"]
        me = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {access}"})
        assert me.json()["email"] == "ada@example.com"
        refresh = cookie(login, "jan_refresh_token")
        rotated = client.get(
            "/v1/auth/refresh-token", headers={"Cookie": f"jan_refresh_token={refresh}"}
        )
        assert rotated.status_code == 200


def test_oidc_login_with_the_browsers_cookies(gateway_url, fresh):
    with (
        run_in_thread(client_id="janserver", client_secret=SECRET) as fake,
        httpx.Client(base_url=gateway_url) as client,
    ):
        fresh.SOCIALACCOUNT_PROVIDERS = {
            **fresh.SOCIALACCOUNT_PROVIDERS,
            "openid_connect": {
                "APPS": [
                    {
                        "provider_id": "keycloak",
                        "name": "Keycloak",
                        "client_id": "janserver",
                        "secret": SECRET,
                        "settings": {
                            "server_url": fake.url,
                            "redirect_url": REDIRECT_URL,
                        },
                    }
                ],
                "OAUTH_PKCE_ENABLED": True,
            },
        }
        start = client.get("/v1/auth/keycloak/login")
        assert start.status_code == 200
        state_cookie = cookie(start, "jan_oauth_state")
        # The browser at the provider, sent back to the front end's callback page.
        answer = httpx.get(start.json()["url"], follow_redirects=False)
        back = parse_qs(urlsplit(answer.headers["location"]).query)
        assert back["state"] == [state_cookie]
        body = {"code": back["code"][0], "state": back["state"][0]}
        headers = {"Cookie": f"jan_oauth_state={state_cookie}"}
        done = client.post("/v1/auth/keycloak/callback", json=body, headers=headers)
        assert done.status_code == 200
        assert done.json()["object"] == "access.token"
        replay = client.post("/v1/auth/keycloak/callback", json=body, headers=headers)
        assert replay.status_code == 400
        assert replay.json()["error"]["code"] == "invalid_state"
