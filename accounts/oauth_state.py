"""One-time OAuth `state` values with their PKCE verifiers, shared by Google and OIDC logins."""

import hashlib
import hmac
import secrets

from allauth.socialaccount.providers.oauth2.utils import generate_code_challenge
from django.core.cache import cache

from janserver.errors import InvalidRequest

STATE_TTL_SECONDS = 600
STATE_BYTES = 32


class InvalidState(InvalidRequest):
    """Jan answers a callback whose state does not match with a 400."""

    code = "invalid_state"
    default_message = (
        "The state does not match a login started in this browser, or was used "
        "already or expired. Start the login again."
    )

    def __init__(self) -> None:
        super().__init__(param="state")


def _key(provider_id: str, state: str) -> str:
    digest = hashlib.sha256(state.encode()).hexdigest()
    return f"accounts:oauth-state:{provider_id}:{digest}"


def state_issue(*, provider_id: str) -> tuple[str, dict[str, str]]:
    """Return a new state and its PKCE parameters; the verifier stays in the cache.

    The verifier is keyed by the provider and a hash of the state, for
    STATE_TTL_SECONDS: a state works with the provider it was issued for only.
    """
    state = secrets.token_urlsafe(STATE_BYTES)
    pkce = generate_code_challenge()
    cache.set(_key(provider_id, state), pkce["code_verifier"], STATE_TTL_SECONDS)
    params = {
        "code_challenge": pkce["code_challenge"].decode("ascii"),
        "code_challenge_method": pkce["code_challenge_method"],
    }
    return state, params


def state_take(*, provider_id: str, state: str, expected: str | None) -> str:
    """Consume a state equal to the cookie's and return its PKCE verifier.

    Raise InvalidState (400) when the cookie is missing or differs, or the state was
    used, expired or issued for another provider.
    """
    if not expected or not hmac.compare_digest(state.encode(), expected.encode()):
        raise InvalidState()
    key = _key(provider_id, state)
    verifier = cache.get(key)
    # Of two concurrent callbacks with one state, only the one that deletes it goes on.
    if verifier is None or not cache.delete(key):
        raise InvalidState()
    return str(verifier)
