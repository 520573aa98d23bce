"""OIDC_PROVIDERS: a JSON list read into django-allauth's openid_connect APPS."""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from janserver.env import oidc_apps

KEYCLOAK = {
    "id": "keycloak",
    "server_url": "https://sso.example.com/realms/acme",
    "client_id": "janserver",
    "secret": "s3cret",
    "redirect_url": "https://app.example.com/auth/keycloak/callback",
}


def test_unset_is_no_provider(monkeypatch):
    monkeypatch.delenv("OIDC_PROVIDERS", raising=False)
    assert oidc_apps("OIDC_PROVIDERS") == []


def test_a_provider_becomes_an_allauth_app(monkeypatch):
    entra = {
        **KEYCLOAK,
        "id": "entra",
        "name": "Microsoft",
        "email_domains": ["example.com"],
        "require_verified_email": False,
    }
    monkeypatch.setenv("OIDC_PROVIDERS", json.dumps([KEYCLOAK, entra]))
    keycloak_app, entra_app = oidc_apps("OIDC_PROVIDERS")
    assert keycloak_app == {
        "provider_id": "keycloak",
        "name": "keycloak",
        "client_id": "janserver",
        "secret": "s3cret",
        "settings": {
            "server_url": "https://sso.example.com/realms/acme",
            "redirect_url": "https://app.example.com/auth/keycloak/callback",
            "email_domains": [],
            "require_verified_email": True,
        },
    }
    assert entra_app["name"] == "Microsoft"
    assert entra_app["settings"]["email_domains"] == ["example.com"]
    assert entra_app["settings"]["require_verified_email"] is False


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not json", "must be a JSON list"),
        ('{"id": "x"}', "must be a JSON list"),
        ("[42]", "must be a JSON object"),
        (json.dumps([{**KEYCLOAK, "client_id": ""}]), "missing ['client_id']"),
        (json.dumps([{**KEYCLOAK, "scope": "x"}]), "unknown ['scope']"),
        (json.dumps([{**KEYCLOAK, "id": "Key Cloak"}]), "lowercase slug"),
        (json.dumps([{**KEYCLOAK, "email_domains": "example.com"}]), "a list"),
        (json.dumps([KEYCLOAK, KEYCLOAK]), "twice"),
    ],
)
def test_a_bad_value_is_a_clear_error(monkeypatch, value, message):
    monkeypatch.setenv("OIDC_PROVIDERS", value)
    with pytest.raises(ImproperlyConfigured, match=message.replace("[", r"\[")):
        oidc_apps("OIDC_PROVIDERS")
