"""The login endpoints: guest login, refresh rotation, logout, me, and token abuse."""

import base64
import json
import re
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import UserFactory
from accounts.tests.signed_in import ACCESS_TOKEN
from accounts.tokens import JanAccessToken, sessions_revoke_for_user, tokens_issue
from janserver import auth_cache
from janserver.tests.expected import UNAUTHENTICATED
from orgs.models import Project

pytestmark = pytest.mark.django_db

COOKIE = "jan_refresh_token"


def guest_login(client):
    response = client.post("/v1/auth/guest-login")
    assert response.status_code == 200
    return response


def me(client, access):
    return client.get("/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {access}")


def refresh(client, cookie=None):
    if cookie is not None:
        client.cookies[COOKIE] = cookie
    return client.get("/v1/auth/refresh-token")


def assert_unauthenticated(response):
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED
    assert response["WWW-Authenticate"] == "Bearer"


def assert_cookie_cleared(response, name=COOKIE):
    assert response.cookies[name].value == ""
    assert response.cookies[name]["max-age"] == 0


def test_guest_login_creates_a_guest_with_a_working_access_token(client):
    """The guest gets a Default Project, and its access token opens /v1/auth/me."""
    response = guest_login(client)
    assert response.json() == ACCESS_TOKEN
    user = User.objects.get()
    assert user.is_guest
    assert re.fullmatch(r"jan_[0-9a-z]{16}", user.name)
    assert user.email == f"{user.name}@guest.jan.ai"
    project = Project.objects.get(memberships__user=user, memberships__role="owner")
    assert project.name == "Default Project"
    answer = me(client, response.json()["access_token"])
    assert answer.status_code == 200
    assert answer.json() == {
        "object": "me",
        "id": user.public_id,
        "email": user.email,
        "name": user.name,
    }


@pytest.mark.parametrize(("debug", "secure"), [(False, True), (True, "")])
def test_refresh_cookie_attributes(client, settings, debug, secure):
    """HttpOnly, SameSite=Strict, Path=/, 7 days; Secure is dropped only in DEBUG."""
    settings.DEBUG = debug
    cookie = guest_login(client).cookies[COOKIE]
    assert cookie.value
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    assert cookie["secure"] == secure
    assert cookie["max-age"] == 7 * 24 * 3600


def test_guest_login_with_the_guest_cookie_reissues_for_the_same_guest(client):
    first = guest_login(client).cookies[COOKIE].value
    second = guest_login(client)
    assert second.cookies[COOKIE].value != first
    guest = User.objects.get()
    assert me(client, second.json()["access_token"]).json()["id"] == guest.public_id
    assert_unauthenticated(refresh(client, first))


@pytest.mark.parametrize("kind", ["member", "garbage", "rotated"])
def test_guest_login_without_a_current_guest_cookie_creates_a_new_guest(client, kind):
    """A non-guest's or unusable refresh token never yields that token's user."""
    if kind == "member":
        cookie = tokens_issue(user=UserFactory()).refresh
    elif kind == "garbage":
        cookie = "not-a-token"
    else:
        cookie = guest_login(client).cookies[COOKIE].value
        refresh(client)
    client.cookies[COOKIE] = cookie
    access = guest_login(client).json()["access_token"]
    newest = User.objects.filter(is_guest=True).latest("date_joined")
    assert me(client, access).json()["id"] == newest.public_id
    assert User.objects.filter(is_guest=True).count() == (2 if kind == "rotated" else 1)


def test_refresh_rotates_and_reuse_revokes_the_family(client):
    """An old refresh token fails, and presenting it kills its successor too."""
    old = guest_login(client).cookies[COOKIE].value
    response = refresh(client)
    assert response.status_code == 200
    assert response.json() == ACCESS_TOKEN
    assert response["Cache-Control"] == "no-store"
    new = response.cookies[COOKIE].value
    assert new != old
    reused = refresh(client, old)
    assert_unauthenticated(reused)
    assert_cookie_cleared(reused)
    assert_unauthenticated(refresh(client, new))


def test_refresh_without_a_cookie_is_401_and_clears_it(client):
    response = refresh(client)
    assert_unauthenticated(response)
    assert_cookie_cleared(response)


def test_refresh_token_is_not_an_access_token(client):
    cookie = guest_login(client).cookies[COOKIE].value
    assert_unauthenticated(me(client, cookie))


def test_access_token_is_not_a_refresh_token(client):
    access = guest_login(client).json()["access_token"]
    assert_unauthenticated(refresh(client, access))


def _b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def _resigned(token, **changes):
    return jwt.encode(
        {**_claims(token), **changes}, settings.JWT_SECRET, algorithm="HS512"
    )


def _alg_none(token):
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(token))}."


def _hs256(token):
    return jwt.encode(_claims(token), settings.JWT_SECRET, algorithm="HS256")


def _tampered(claim):
    def forge(token):
        header, _, signature = token.split(".")
        payload = {**_claims(token), claim: "user_someoneelse000000000000"}
        return f"{header}.{_b64(payload)}.{signature}"

    return forge


def _expired(token):
    access = JanAccessToken(token)
    access.set_exp(from_time=timezone.now() - timedelta(hours=1))
    return str(access)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(_alg_none, id="alg-none"),
        pytest.param(_hs256, id="hs256-right-secret"),
        pytest.param(_tampered("sub"), id="tampered-sub"),
        pytest.param(_tampered("ID"), id="tampered-ID"),
        pytest.param(_expired, id="expired"),
        pytest.param(lambda t: _resigned(t, iss="someone-else"), id="wrong-iss"),
        pytest.param(lambda t: _resigned(t, aud="other-api"), id="wrong-aud"),
        pytest.param(lambda t: _resigned(t, token_type="refresh"), id="wrong-type"),
        pytest.param(lambda t: t[:-4] + "AAAA", id="bad-signature"),
        pytest.param(lambda t: "not.a.jwt", id="garbage"),
    ],
)
def test_forged_access_tokens_are_401(client, forge):
    """Every forged or stale access token gets the one 401 body."""
    access = guest_login(client).json()["access_token"]
    assert_unauthenticated(me(client, forge(access)))


def test_resigned_token_with_the_right_claims_still_works(client):
    """The forgeries above fail for what they change, not for being re-encoded."""
    access = guest_login(client).json()["access_token"]
    assert me(client, _resigned(access)).status_code == 200


@pytest.mark.parametrize(
    "header", ["", "Bearer", "Bearer ", "Basic abc", "Token abc", "Bearer sk-nope"]
)
def test_me_without_a_valid_credential_is_401(client, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    assert_unauthenticated(client.get("/v1/auth/me", **extra))


def test_me_accepts_a_project_key(client, project_key, user):
    _, secret = project_key
    response = me(client, secret)
    assert response.status_code == 200
    assert response.json() == {
        "object": "me",
        "id": user.public_id,
        "email": user.email,
        "name": user.name,
    }


def test_logout_revokes_the_family_and_clears_the_cookie(client):
    cookie = guest_login(client).cookies[COOKIE].value
    response = client.get("/v1/auth/logout")
    assert response.status_code == 200
    assert response.json() == {"object": "logout", "status": "ok"}
    assert_cookie_cleared(response)
    assert_unauthenticated(refresh(client, cookie))


@pytest.mark.parametrize("cookie", [None, "garbage"])
def test_logout_is_idempotent(client, cookie):
    if cookie is not None:
        client.cookies[COOKIE] = cookie
    response = client.get("/v1/auth/logout")
    assert response.status_code == 200
    assert response.json() == {"object": "logout", "status": "ok"}


def test_revoking_a_users_sessions_ends_refresh_and_access(client):
    response = guest_login(client)
    access, cookie = response.json()["access_token"], response.cookies[COOKIE].value
    assert me(client, access).status_code == 200  # warms the auth cache
    sessions_revoke_for_user(user=User.objects.get(), reason="disabled")
    assert_unauthenticated(me(client, access))
    assert_unauthenticated(refresh(client, cookie))


def test_a_deactivated_user_loses_access_once_the_cache_entry_goes(client):
    response = guest_login(client)
    access, cookie = response.json()["access_token"], response.cookies[COOKIE].value
    assert me(client, access).status_code == 200
    User.objects.update(is_active=False)  # no invalidation: only the TTL ends it
    auth_cache.reset_for_tests()
    assert_unauthenticated(me(client, access))
    assert_unauthenticated(refresh(client, cookie))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/v1/auth/guest-login"),
        ("get", "/v1/auth/refresh-token"),
        ("post", "/v1/auth/google/callback"),
    ],
)
def test_auth_endpoints_are_throttled_per_client_ip(client, settings, method, path):
    """Past the rate, the same IP gets 429 with Retry-After; another IP is unaffected."""
    from django.core.cache import cache

    cache.clear()
    settings.AUTH_THROTTLE_RATE = "2/min"
    call = getattr(client, method)
    for _ in range(2):
        assert call(path, REMOTE_ADDR="10.9.9.9").status_code != 429
    limited = call(path, REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert call(path, REMOTE_ADDR="10.8.8.8").status_code != 429
    cache.clear()


def test_invite_verification_is_throttled_per_client_ip(client, settings, user):
    """Guessing invite codes is limited too (the route needs a signed-in user)."""
    from django.core.cache import cache

    from accounts.tokens import tokens_issue

    cache.clear()
    settings.AUTH_THROTTLE_RATE = "2/min"
    headers = {"Authorization": f"Bearer {tokens_issue(user=user).access}"}
    path = "/v1/organization/invites/verification"
    for _ in range(2):
        response = client.post(
            path, {"code": "nope"}, content_type="application/json", headers=headers
        )
        assert response.status_code == 404
    limited = client.post(
        path, {"code": "nope"}, content_type="application/json", headers=headers
    )
    assert limited.status_code == 429
    cache.clear()
