"""API-key and JWT authentication: one 401 for every bad credential, zero queries warm."""

import asyncio
import time
from datetime import timedelta
from unittest import mock

import jwt
import pytest
from django.conf import settings
from django.utils import timezone

from accounts.tokens import tokens_issue
from janserver import auth, auth_cache
from janserver.errors import Unauthenticated
from janserver.tests.expected import UNAUTHENTICATED
from orgs.models import ApiKey
from orgs.services import api_key_revoke, project_archive

pytestmark = pytest.mark.django_db

MODELS = "/v1/models"


def get(client, path, credential=None, **headers):
    if credential is not None:
        headers["Authorization"] = f"Bearer {credential}"
    return client.get(path, headers=headers)


def assert_unauthenticated(response):
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED
    assert response["WWW-Authenticate"] == "Bearer"


def test_project_key_lists_models(client, project_key):
    response = get(client, MODELS, project_key[1])
    assert response.status_code == 200
    assert response.json() == {"object": "list", "data": []}


@pytest.mark.parametrize(
    "path",
    [
        MODELS,  # an async OpenAI route (the pipeline's enter step)
        "/v1/conversations",  # a DRF route
    ],
)
def test_a_project_key_in_x_api_key_works_like_a_bearer_key(client, project_key, path):
    """Jan's clients send the key in X-API-Key; it is accepted wherever keys are."""
    by_header = client.get(path, headers={"X-API-Key": project_key[1]})
    by_bearer = get(client, path, project_key[1])
    assert by_header.status_code == 200
    assert by_header.json() == by_bearer.json()


def test_an_admin_key_in_x_api_key_reaches_the_organization_routes(client, admin_key):
    response = client.get(
        "/v1/organization/projects", headers={"X-API-Key": admin_key[1]}
    )
    assert response.status_code == 200
    refused = client.get(MODELS, headers={"X-API-Key": admin_key[1]})
    assert refused.status_code == 403


@pytest.mark.parametrize(
    "value",
    [
        "sk-project_unknown",  # an unknown key
        "not-a-key",  # a login token or anything else: keys only
        "Bearer sk-project_unknown",
    ],
)
def test_bad_x_api_key_values_get_the_same_401(client, db, value):
    assert_unauthenticated(client.get(MODELS, headers={"X-API-Key": value}))


def test_bearer_wins_over_x_api_key(client, project_key):
    """With both headers, the Bearer credential is the one checked."""
    response = client.get(
        MODELS,
        headers={
            "Authorization": f"Bearer {project_key[1]}",
            "X-API-Key": "sk-project_unknown",
        },
    )
    assert response.status_code == 200
    assert_unauthenticated(
        client.get(
            MODELS,
            headers={
                "Authorization": "Bearer sk-project_unknown",
                "X-API-Key": project_key[1],
            },
        )
    )


def test_a_login_token_is_refused_in_x_api_key(client, user):
    token = tokens_issue(user=user).access
    assert get(client, MODELS, token).status_code == 200
    assert_unauthenticated(client.get(MODELS, headers={"X-API-Key": token}))


def test_a_warm_key_authenticates_with_zero_queries(
    client, project_key, django_assert_num_queries
):
    """The first request loads the principal; the next ones never reach the database."""
    secret = project_key[1]
    assert get(client, MODELS, secret).status_code == 200
    with django_assert_num_queries(0):
        for _ in range(3):
            assert get(client, MODELS, secret).status_code == 200


def test_unknown_keys_are_negatively_cached(client, db, django_assert_num_queries):
    secret = "sk-project_" + "z" * 48
    assert_unauthenticated(get(client, MODELS, secret))
    with django_assert_num_queries(0):
        assert_unauthenticated(get(client, MODELS, secret))


def test_a_warm_jwt_authenticates_with_zero_queries(
    client, user, django_assert_num_queries
):
    access = tokens_issue(user=user).access
    assert get(client, MODELS, access).status_code == 200
    with django_assert_num_queries(0):
        assert get(client, MODELS, access).status_code == 200


def _too_long():
    return "sk-project_" + "a" * 10_000


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token sk-project_abc",
        "Bearer sk-project_" + "0" * 48,
        "Bearer sk-admin_' OR '1'='1' --",
        "Bearer sk-project_%00",
        "Bearer " + "sk-project_" + "a" * 10_000,
        "Bearer not-a-jwt",
        "Bearer a.b.c",
    ],
    ids=[
        "missing",
        "empty",
        "bare-bearer",
        "bearer-space",
        "basic",
        "token-scheme",
        "unknown-key",
        "sql-ish",
        "nul",
        "10kB",
        "garbage",
        "fake-jwt",
    ],
)
def test_every_bad_credential_gets_the_same_401(client, db, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get(MODELS, headers=headers)
    assert_unauthenticated(response)
    assert "sk-" not in response.content.decode()


def test_revoked_key_stops_working_at_once_in_this_process(client, project_key):
    api_key, secret = project_key
    assert get(client, MODELS, secret).status_code == 200
    api_key_revoke(api_key=api_key)
    assert_unauthenticated(get(client, MODELS, secret))


def test_archiving_the_project_stops_its_keys(client, project_key, project):
    _, secret = project_key
    assert get(client, MODELS, secret).status_code == 200
    project_archive(project=project)
    assert_unauthenticated(get(client, MODELS, secret))


def test_a_cached_key_still_expires_on_time(client, project_key):
    api_key, secret = project_key
    expires = timezone.now() + timedelta(minutes=5)
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=expires)
    assert get(client, MODELS, secret).status_code == 200
    later = expires + timedelta(seconds=1)
    with mock.patch("janserver.auth.timezone.now", return_value=later):
        assert_unauthenticated(get(client, MODELS, secret))


@pytest.mark.parametrize(
    ("change", "value"),
    [("enabled", False), ("expires_at", timezone.now() - timedelta(days=1))],
)
def test_disabled_and_expired_keys_are_refused(client, project_key, change, value):
    api_key, secret = project_key
    ApiKey.objects.filter(pk=api_key.pk).update(**{change: value})
    assert_unauthenticated(get(client, MODELS, secret))


def test_inactive_owner_keys_are_refused(client, project_key, user):
    user.is_active = False
    user.save()
    assert_unauthenticated(get(client, MODELS, project_key[1]))


def test_admin_key_is_refused_on_inference_routes(client, admin_key):
    response = get(client, MODELS, admin_key[1])
    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "message": "Admin API keys can only use organization admin routes.",
            "type": "permission_error",
            "param": None,
            "code": "insufficient_permissions",
        }
    }


def test_refresh_token_is_not_a_bearer_token(client, user):
    refresh = tokens_issue(user=user).refresh
    assert_unauthenticated(get(client, MODELS, refresh))


def _signed(payload, key, algorithm):
    return jwt.encode(payload, key, algorithm=algorithm)


def _claims(user, **overrides):
    now = int(timezone.now().timestamp())
    claims = {
        "token_type": "access",
        "sub": user.public_id,
        "ID": user.public_id,
        "jti": "x" * 32,
        "sid": "none",
        "iat": now,
        "exp": now + 600,
        "iss": "janserver",
        "aud": "janserver-api",
    }
    return claims | overrides


@pytest.mark.parametrize(
    "forge",
    [
        lambda user: _signed(_claims(user), None, "none"),
        lambda user: _signed(_claims(user), settings.JWT_SECRET, "HS256"),
        lambda user: _signed(_claims(user), "another-secret" * 5, "HS512"),
        lambda user: _signed(
            _claims(user, iss="someone-else"), settings.JWT_SECRET, "HS512"
        ),
        lambda user: _signed(
            _claims(user, aud="other-api"), settings.JWT_SECRET, "HS512"
        ),
        lambda user: _signed(_claims(user, exp=1), settings.JWT_SECRET, "HS512"),
        lambda user: _signed(
            _claims(user, token_type="refresh"), settings.JWT_SECRET, "HS512"
        ),
    ],
    ids=[
        "alg-none",
        "hs256",
        "wrong-secret",
        "wrong-iss",
        "wrong-aud",
        "expired",
        "refresh",
    ],
)
def test_forged_or_foreign_jwts_are_refused(client, user, forge):
    assert_unauthenticated(get(client, MODELS, forge(user)))


def test_tampered_jwt_claims_are_refused(client, user, superuser):
    """Swapping `sub` in the payload, keeping the signature, breaks the signature."""
    header, payload, signature = tokens_issue(user=user).access.split(".")
    forged_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(
            user.public_id.encode(), superuser.public_id.encode()
        )
    ).decode()
    assert_unauthenticated(
        get(client, MODELS, f"{header}.{forged_payload}.{signature}")
    )


def test_last_used_at_is_written_in_batches(client, project_key):
    """A request only marks the key in memory; the flush writes it once."""
    api_key, secret = project_key
    get(client, MODELS, secret)
    api_key.refresh_from_db()
    assert api_key.last_used_at is None
    auth.flush_key_usage()
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_json_error_for_wrong_method_on_an_async_view(client, project_key):
    response = client.post(
        MODELS, headers={"Authorization": f"Bearer {project_key[1]}"}
    )
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_unknown_model_is_model_not_found(client, project_key):
    response = get(client, f"{MODELS}/nope", project_key[1])
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def test_principal_user_matches_the_database_row(project_key, user):
    """The per-request User built from the cache has every field where it belongs."""
    principal = auth._load_key_principal(project_key[0].key_hash)
    rebuilt = auth.principal_user(principal)
    for field in auth.USER_FIELDS:
        assert getattr(rebuilt, field) == getattr(user, field), field
    assert not rebuilt._state.adding


async def test_concurrent_misses_share_one_database_lookup(monkeypatch):
    """When a key's cache entry expires under load, its requests share one query."""
    auth_cache.reset_for_tests()
    calls = []

    def slow_load(key_hash):
        calls.append(key_hash)
        time.sleep(0.05)
        return  # an unknown key

    monkeypatch.setattr(auth, "_load_key_principal", slow_load)
    request = mock.Mock(headers={"Authorization": "Bearer sk-project_" + "a" * 48})
    results = await asyncio.gather(
        *(auth.aauthenticate(request) for _ in range(20)), return_exceptions=True
    )
    assert len(calls) == 1
    assert all(isinstance(result, Unauthenticated) for result in results)
    assert auth._inflight == {}
    auth_cache.reset_for_tests()


async def test_a_requester_going_away_does_not_cancel_the_shared_lookup(monkeypatch):
    auth_cache.reset_for_tests()
    monkeypatch.setattr(auth, "_load_key_principal", lambda key_hash: None)
    request = mock.Mock(headers={"Authorization": "Bearer sk-project_" + "b" * 48})
    first = asyncio.ensure_future(auth.aauthenticate(request))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(Unauthenticated):
        await auth.aauthenticate(request)
    auth_cache.reset_for_tests()


def test_an_address_whose_credentials_keep_failing_gets_429_before_any_lookup(
    client, project_key, settings, django_assert_num_queries
):
    """Each unknown credential costs a lookup: past AUTH_FAILURE_RATE, an address's
    unknown credentials are refused without one; known ones still work."""
    settings.AUTH_FAILURE_RATE = "3/min"
    auth.reset_for_tests()
    secret = project_key[1]
    assert get(client, MODELS, secret).status_code == 200  # now in the cache
    for n in range(3):
        assert_unauthenticated(get(client, MODELS, f"sk-project_{n:048d}"))
    with django_assert_num_queries(0):
        refused = get(client, MODELS, "sk-project_" + "9" * 48)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"
        assert get(client, MODELS, secret).status_code == 200  # a cached key
    elsewhere = client.get(
        MODELS,
        HTTP_AUTHORIZATION="Bearer sk-project_" + "8" * 48,
        REMOTE_ADDR="10.0.0.9",
    )
    assert_unauthenticated(elsewhere)


def test_malformed_tokens_count_as_failures(client, db, settings):
    settings.AUTH_FAILURE_RATE = "2/min"
    auth.reset_for_tests()
    for _ in range(2):
        assert_unauthenticated(get(client, MODELS, "not-a-jwt"))
    assert get(client, MODELS, "sk-project_" + "7" * 48).status_code == 429


def test_cached_credentials_live_briefly_while_broadcasts_may_be_lost(monkeypatch):
    """Redis unreachable: a revocation broadcast elsewhere cannot arrive, so entries
    live only the short TTL of a deployment without Redis."""
    now = [1000.0]
    monkeypatch.setattr(auth_cache.time, "monotonic", lambda: now[0])
    trusted = [True]
    cache = auth_cache.TTLCache(60, 10, fallback_ttl=2, trusted=lambda: trusted[0])
    cache.set(("key", "k"), "principal")
    now[0] += 3
    assert cache.get(("key", "k")) == "principal"
    trusted[0] = False
    assert cache.get(("key", "k")) is auth_cache.MISSING
    cache.set(("key", "k"), "principal")
    assert cache.get(("key", "k")) == "principal"


def test_expired_entries_leave_the_cache_as_new_ones_are_stored(monkeypatch):
    """Storing an entry drops the entries past the TTL, oldest first, and beyond
    max_entries the least recently stored: stale credentials and conversations are
    not kept until the cache is full."""
    now = [1000.0]
    monkeypatch.setattr(auth_cache.time, "monotonic", lambda: now[0])
    cache = auth_cache.TTLCache(60, 3, fallback_ttl=2)
    cache.set(("key", "a"), "a")
    now[0] += 30
    cache.set(("key", "b"), "b")
    now[0] += 10
    cache.set(("key", "a"), "a again")  # stored anew: now the most recent
    now[0] += 21
    cache.set(("key", "c"), "c")
    assert len(cache) == 3
    now[0] += 30
    cache.set(("key", "d"), "d")  # b, stored 61 s ago, has expired
    assert [cache.get(("key", k)) for k in "abcd"] == [
        "a again",
        auth_cache.MISSING,
        "c",
        "d",
    ]
    assert len(cache) == 3
    cache.set(("key", "e"), "e")  # over max_entries: the least recently stored goes
    assert len(cache) == 3
    assert cache.get(("key", "a")) is auth_cache.MISSING


def test_broadcasts_count_as_received_only_while_the_listener_vouches(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    assert not auth_cache.broadcasts_received()  # no listener has vouched yet
    auth_cache.received_for(10)
    assert auth_cache.broadcasts_received()
    auth_cache.reset_for_tests()
    settings.REDIS_URL = ""
    assert auth_cache.broadcasts_received()  # nothing is broadcast without Redis
