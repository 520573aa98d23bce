"""Production settings: security headers on every response, and the admin's CSRF check
and cookie flags, with janserver's replacement middleware in place."""

import re

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_test_settings_are_production_settings():
    assert settings.DEBUG is False
    assert "janserver.http.fast_middleware.SecurityMiddleware" in settings.MIDDLEWARE


@pytest.mark.parametrize(
    "path", ["/v1/models", "/v1/nope", "/healthcheck", "/admin/login/"]
)
def test_responses_carry_the_security_headers(path):
    response = Client().get(path, secure=True)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response.headers["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )


def test_hsts_only_over_https():
    assert "Strict-Transport-Security" not in Client().get("/healthcheck").headers


def test_the_admin_login_refuses_a_post_without_its_csrf_token(superuser):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/admin/login/",
        {"username": superuser.email, "password": "password"},
        secure=True,
    )
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_the_admin_login_with_its_csrf_token_signs_in_with_secure_cookies(superuser):
    superuser.set_password("a long password 1")
    superuser.save()
    client = Client(enforce_csrf_checks=True)
    page = client.get("/admin/login/", secure=True)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content)
    assert token is not None
    csrf_cookie = page.cookies[settings.CSRF_COOKIE_NAME]
    assert csrf_cookie["secure"] is True
    response = client.post(
        "/admin/login/",
        {
            "username": superuser.email,
            "password": "a long password 1",
            "csrfmiddlewaretoken": token.group(1).decode(),
        },
        secure=True,
        headers={"Referer": "https://testserver/admin/login/"},  # as a browser sends
    )
    assert response.status_code == 302
    session_cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session_cookie["secure"] is True
    assert session_cookie["httponly"] is True
    assert session_cookie["samesite"] == "Lax"
    assert client.get("/admin/", secure=True).status_code == 200


def test_api_routes_need_no_csrf_token(project_key):
    """Bearer-authenticated API routes skip the session-based middleware entirely."""
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/v1/conversations",
        "{}",
        content_type="application/json",
        headers={"Authorization": f"Bearer {project_key[1]}"},
    )
    assert response.status_code == 200
    assert settings.SESSION_COOKIE_NAME not in response.cookies
