"""Every bypass of a Django default can be switched off (JANSERVER_BYPASSES_OFF), and
janserver then behaves the same, the way Django does it (docs/decisions/)."""

import httpx
import pytest
from django.conf import settings

from conversations.models import Conversation, Item
from conversations.tests.factories import ConversationFactory, WorkspaceFactory
from janserver import db
from janserver.tests.live_server import free_port, running_server, uvicorn_command
from janserver.tests.test_settings import STRONG, load_settings


@pytest.fixture
def helpers_off(settings):
    settings.BYPASSES_OFF = frozenset({"db_helpers"})


@pytest.mark.django_db
def test_without_the_db_helpers_the_orm_does_their_work(helpers_off):
    conversation = ConversationFactory(workspace=WorkspaceFactory())
    db.insert_many(
        Item,
        [
            {
                "conversation_id": conversation.pk,
                "position": n,
                "type": "message",
                "role": "user",
            }
            for n in (1, 2)
        ],
    )
    assert list(
        Item.objects.filter(conversation=conversation).values_list(
            "position", flat=True
        )
    ) == [1, 2]
    found = db.row_get(
        Conversation,
        related="workspace",
        equal={"public_id": conversation.public_id},
        null=("deleted_at",),
    )
    assert found == conversation
    assert found.workspace == conversation.workspace
    assert (
        db.row_get(Conversation, related="workspace", equal={"public_id": "x"}) is None
    )


@pytest.mark.server
def test_unknown_bypass_names_stop_the_start():
    result = load_settings(JANSERVER_BYPASSES_OFF="handler,turbo", **STRONG)
    assert result.returncode != 0
    assert "JANSERVER_BYPASSES_OFF names unknown bypasses: turbo" in result.stderr


@pytest.mark.server
def test_with_every_bypass_off_the_server_answers_as_django_would(migrated_sqlite):
    """Django's handler, middleware, streaming response and collector: same answers."""
    from janserver.tests.live_server import server_env

    env = server_env(
        f"sqlite:///{migrated_sqlite}",
        JANSERVER_BYPASSES_OFF=",".join(sorted(settings.BYPASSES)),
    )
    port = free_port()
    with running_server(uvicorn_command(port), env, port) as base_url:
        assert httpx.get(f"{base_url}/v1/version").json()["version"]
        missing = httpx.get(f"{base_url}/v1/nope")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        unauthenticated = httpx.get(f"{base_url}/v1/models")
        assert unauthenticated.status_code == 401
        assert unauthenticated.headers["x-request-id"].startswith("req_")


@pytest.mark.server
def test_with_redis_pool_off_the_cache_is_djangos_redis_cache():
    """`redis_pool` off: Django's RedisCache (a connection pool per cache object)."""
    code = "print(s.CACHES['default']['BACKEND'])"
    redis = {"REDIS_URL": "redis://cache.example:6379/1", **STRONG}
    on = load_settings(code, **redis)
    off = load_settings(code, JANSERVER_BYPASSES_OFF="redis_pool", **redis)
    assert (on.returncode, off.returncode) == (0, 0), on.stderr + off.stderr
    assert on.stdout.split() == ["janserver.redis_cache.SharedPoolRedisCache"]
    assert off.stdout.split() == ["django.core.cache.backends.redis.RedisCache"]
