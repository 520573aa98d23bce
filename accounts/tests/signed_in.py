"""What every way of signing in answers (password, Google, OpenID Connect, a refresh),
checked the same way by each of their tests."""

from unittest.mock import ANY

REFRESH = "jan_refresh_token"

# The body of a sign-in: a short-lived access token (the refresh token is a cookie).
ACCESS_TOKEN = {"object": "access.token", "access_token": ANY, "expires_in": 900}


def assert_signed_in(response) -> None:
    """A 200 with an access token, and the refresh token in a strict same-site cookie."""
    assert response.status_code == 200
    assert response.json() == ACCESS_TOKEN
    assert response.cookies[REFRESH]["samesite"] == "Strict"


def me(client, response):
    """/v1/auth/me with the access token of a sign-in's `response`."""
    access = response.json()["access_token"]
    return client.get("/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {access}").json()
