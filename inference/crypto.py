"""Provider API keys at rest: AES-256-GCM under a key derived from MODEL_PROVIDER_SECRET.

A stored key reads `v1.<urlsafe base64 of nonce + ciphertext + tag>`. The ciphertext is
bound to its provider's public id (GCM associated data), so a ciphertext copied onto
another provider row does not decrypt. Without MODEL_PROVIDER_SECRET, DEBUG derives the
key from SECRET_KEY (with a warning) and production refuses to store provider keys;
providers without a key (a local vLLM) never need the secret.
"""

import base64
import binascii
import functools
import logging
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger("janserver.crypto")

VERSION = "v1"
HKDF_INFO = b"janserver provider api key v1"
NONCE_BYTES = 12  # 96 bits, GCM's standard nonce size
HINT_MIN_LENGTH = 8  # shorter keys get no hint: four characters would be half of one


class ProviderSecretMissing(ImproperlyConfigured):
    """MODEL_PROVIDER_SECRET is not set and DEBUG is off."""

    def __init__(self) -> None:
        super().__init__(
            "MODEL_PROVIDER_SECRET is not set: provider API keys cannot be stored or "
            "read. Set it to a long random value."
        )


class ProviderKeyUnreadable(ImproperlyConfigured):
    """A stored provider API key does not decrypt (another secret, or a damaged value)."""

    def __init__(self) -> None:
        super().__init__(
            "A stored provider API key cannot be decrypted: MODEL_PROVIDER_SECRET is "
            "not the secret it was stored with, or the stored value is damaged. Set "
            "the provider's API key again."
        )


@functools.lru_cache(maxsize=4)
def _derive(secret: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO)
    return hkdf.derive(secret.encode())


@functools.lru_cache(maxsize=1)
def _warn_debug_fallback() -> None:
    logger.warning(
        "MODEL_PROVIDER_SECRET is not set; provider API keys are encrypted with a key "
        "derived from SECRET_KEY (DEBUG only). Set MODEL_PROVIDER_SECRET."
    )


def _key() -> bytes:
    """Return the AES key; raise ProviderSecretMissing in production without a secret."""
    secret = settings.MODEL_PROVIDER_SECRET
    if not secret:
        if not settings.DEBUG:
            raise ProviderSecretMissing()
        _warn_debug_fallback()
        secret = settings.SECRET_KEY
    return _derive(secret)


def api_key_encrypt(plaintext: str, *, context: str) -> str:
    """Return the stored form of a provider API key, bound to `context` (a public id).

    Raises ProviderSecretMissing when no secret is configured.
    """
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(_key()).encrypt(nonce, plaintext.encode(), context.encode())
    return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def api_key_decrypt(token: str, *, context: str) -> str:
    """Return the provider API key stored as `token` for `context`.

    Raises ProviderKeyUnreadable (never showing the stored value) when it does not
    decrypt, and ProviderSecretMissing when no secret is configured.
    """
    version, _, payload = token.partition(".")
    if version != VERSION:
        raise ProviderKeyUnreadable()
    try:
        raw = base64.urlsafe_b64decode(payload.encode())
    except (binascii.Error, ValueError):
        raise ProviderKeyUnreadable() from None
    nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
    try:
        plaintext = AESGCM(_key()).decrypt(nonce, sealed, context.encode())
    except (InvalidTag, ValueError):
        raise ProviderKeyUnreadable() from None
    return plaintext.decode()


def api_key_hint(secret: str) -> str:
    """Return the displayable hint of a provider API key: its last four characters."""
    return f"…{secret[-4:]}" if len(secret) >= HINT_MIN_LENGTH else "…"
