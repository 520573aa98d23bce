"""Server routes: liveness, readiness and version."""

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

import janserver
from janserver.api.openapi import documented, json_doc, ref

_migrations_applied = False
READINESS_KEY = "readyz"  # read (never written) to reach Redis
NOT_READY = {
    "database": "The database is unreachable.",
    "migrations": "The database has unapplied migrations.",
    "redis": "Redis (REDIS_URL) is unreachable.",
}


@documented(
    {
        "get": {
            "operationId": "healthcheck",
            "tags": ["server"],
            "x-authenticated": False,
            "responses": {
                "200": {
                    "description": "The process answers.",
                    "content": {"application/json": {"schema": {"const": "ok"}}},
                }
            },
        }
    }
)
@require_GET
def healthcheck(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers the JSON string "ok" (Jan's answer); no dependency
    is checked."""
    return JsonResponse("ok", safe=False)


def _database_ready() -> str | None:
    global _migrations_applied  # a once-true flag per process
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if not _migrations_applied:
            executor = MigrationExecutor(connection)
            targets = executor.loader.graph.leaf_nodes()
            if executor.migration_plan(targets):
                return "migrations"
            _migrations_applied = True
    except DatabaseError:
        return "database"
    return None


def _redis_ready() -> str | None:
    """Whether Redis answers, when REDIS_URL configures it."""
    if not settings.REDIS_URL:
        return None
    try:
        cache.get(READINESS_KEY)
    except redis.RedisError:
        return "redis"
    return None


@documented(
    {
        "get": {
            "operationId": "readiness",
            "tags": ["server"],
            "x-authenticated": False,
            "responses": {
                "200": json_doc(
                    {
                        "type": "object",
                        "properties": {
                            "status": {"const": "ready"},
                            "checks": {"type": "object"},
                        },
                    },
                    "The database (and Redis, when configured) answers and every "
                    "migration is applied.",
                ),
                "503": json_doc(
                    {
                        "allOf": [
                            ref("Error"),
                            {
                                "type": "object",
                                "properties": {
                                    "status": {"const": "not_ready"},
                                    "failed_check": {
                                        "enum": ["database", "migrations", "redis"]
                                    },
                                },
                            },
                        ]
                    },
                    "Not ready (`Retry-After`).",
                ),
            },
        }
    }
)
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 only when the database answers, every migration is applied and,
    with REDIS_URL set, Redis answers."""
    failed = _database_ready() or _redis_ready()
    if failed is None:
        checks = {"database": "ok", "migrations": "ok"}
        if settings.REDIS_URL:
            checks["redis"] = "ok"
        return JsonResponse({"status": "ready", "checks": checks})
    body = {
        "error": {
            "message": NOT_READY[failed],
            "type": "server_error",
            "param": None,
            "code": "service_unavailable",
        },
        "status": "not_ready",
        "failed_check": failed,
    }
    response = JsonResponse(body, status=503)
    response["Retry-After"] = "5"
    return response


@documented(
    {
        "get": {
            "operationId": "version",
            "tags": ["server"],
            "x-authenticated": False,
            "responses": {
                "200": json_doc(
                    {
                        "type": "object",
                        "required": ["version", "env_reloaded_at"],
                        "properties": {
                            "version": {"type": "string"},
                            "env_reloaded_at": {
                                "type": "string",
                                "format": "date-time",
                            },
                        },
                    }
                )
            },
        }
    }
)
@require_GET
async def version(request: HttpRequest) -> JsonResponse:
    """Server version and when its environment was loaded (Jan's shape)."""
    return JsonResponse(
        {
            "version": janserver.__version__,
            "env_reloaded_at": settings.SETTINGS_LOADED_AT.isoformat().replace(
                "+00:00", "Z"
            ),
        }
    )
