"""Provider API keys at rest: AES-GCM round trips, wrong secrets, no plaintext stored."""

import logging

import pytest
from django.core.exceptions import ImproperlyConfigured

from inference import crypto
from inference.crypto import (
    ProviderKeyUnreadable,
    ProviderSecretMissing,
    api_key_decrypt,
    api_key_encrypt,
    api_key_hint,
)
from inference.models import Provider
from inference.selectors import provider_api_key
from inference.services import provider_create

SECRET = "provider-secret-" + "s" * 48
KEY = "sk-upstream-0123456789abcdef"


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.MODEL_PROVIDER_SECRET = SECRET


def test_a_key_round_trips_in_a_versioned_url_safe_token():
    """The stored form is `v1.` plus URL-safe base64, and decrypts to the key."""
    token = api_key_encrypt(KEY, context="prov_a")
    version, _, payload = token.partition(".")
    assert version == "v1"
    assert set(payload) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="
    )
    assert KEY not in token
    assert api_key_decrypt(token, context="prov_a") == KEY


def test_each_encryption_uses_a_fresh_nonce():
    """Encrypting the same key twice gives different tokens (and nonces)."""
    tokens = {api_key_encrypt(KEY, context="prov_a") for _ in range(50)}
    assert len(tokens) == 50
    nonces = {crypto.base64.urlsafe_b64decode(t[3:])[:12] for t in tokens}
    assert len(nonces) == 50


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda token, settings: (token, "prov_b"), id="other-provider"),
        pytest.param(
            lambda token, settings: (
                setattr(settings, "MODEL_PROVIDER_SECRET", "another-" + SECRET),
                (token, "prov_a"),
            )[1],
            id="other-secret",
        ),
        pytest.param(
            lambda token, settings: (token[:-4] + "AAAA", "prov_a"), id="bit-flip"
        ),
        pytest.param(
            lambda token, settings: ("v2" + token[2:], "prov_a"), id="version"
        ),
        pytest.param(lambda token, settings: ("v1.%%%", "prov_a"), id="not-base64"),
        pytest.param(lambda token, settings: ("v1.", "prov_a"), id="empty"),
    ],
)
def test_a_key_that_does_not_decrypt_raises_a_clear_error(settings, tamper):
    """Wrong secret, wrong provider or a damaged value: one clear error, no ciphertext."""
    token, context = tamper(api_key_encrypt(KEY, context="prov_a"), settings)
    with pytest.raises(ProviderKeyUnreadable) as excinfo:
        api_key_decrypt(token, context=context)
    assert isinstance(excinfo.value, ImproperlyConfigured)
    message = str(excinfo.value)
    assert message.startswith("A stored provider API key cannot be decrypted")
    assert "v1." not in message
    assert KEY not in message


def test_production_without_a_secret_refuses_to_encrypt_and_decrypt(settings):
    token = api_key_encrypt(KEY, context="prov_a")
    settings.MODEL_PROVIDER_SECRET = ""
    settings.DEBUG = False
    with pytest.raises(ProviderSecretMissing):
        api_key_encrypt(KEY, context="prov_a")
    with pytest.raises(ProviderSecretMissing):
        api_key_decrypt(token, context="prov_a")


def test_debug_without_a_secret_derives_the_key_from_secret_key(settings, caplog):
    """DEBUG falls back to SECRET_KEY, with a warning; setting a secret later breaks it."""
    settings.MODEL_PROVIDER_SECRET = ""
    settings.DEBUG = True
    crypto._warn_debug_fallback.cache_clear()
    with caplog.at_level(logging.WARNING, logger="janserver.crypto"):
        token = api_key_encrypt(KEY, context="prov_a")
    assert "MODEL_PROVIDER_SECRET is not set" in caplog.text
    assert api_key_decrypt(token, context="prov_a") == KEY
    settings.MODEL_PROVIDER_SECRET = SECRET
    with pytest.raises(ProviderKeyUnreadable):
        api_key_decrypt(token, context="prov_a")


@pytest.mark.parametrize(
    ("secret", "hint"),
    [("sk-0123456789abcd", "…abcd"), ("abcdefgh", "…efgh"), ("short", "…")],
)
def test_the_hint_shows_only_the_last_four_characters(secret, hint):
    assert api_key_hint(secret) == hint


@pytest.mark.django_db
def test_the_database_row_holds_no_plaintext():
    """Only the ciphertext and the hint are stored; the service decrypts the key."""
    provider = provider_create(
        name="Upstream", base_url="http://127.0.0.1:9/v1", api_key=KEY
    )
    row = Provider.objects.filter(pk=provider.pk).values().get()
    assert not any(KEY in str(value) for value in row.values())
    assert not any(KEY[3:-4] in str(value) for value in row.values())
    assert row["api_key_hint"] == "…cdef"
    assert row["api_key_encrypted"].startswith("v1.")
    assert provider_api_key(Provider.objects.get(pk=provider.pk)) == KEY


@pytest.mark.django_db
def test_a_ciphertext_copied_to_another_provider_does_not_decrypt():
    """The ciphertext is bound to its provider's public id."""
    source = provider_create(name="A", base_url="http://127.0.0.1:9/v1", api_key=KEY)
    target = provider_create(name="B", base_url="http://127.0.0.1:9/v1")
    Provider.objects.filter(pk=target.pk).update(
        api_key_encrypted=source.api_key_encrypted
    )
    with pytest.raises(ProviderKeyUnreadable):
        provider_api_key(Provider.objects.get(pk=target.pk))
