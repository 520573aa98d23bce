"""Server routes: liveness, readiness and version."""

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

import janserver
from janserver.api.openapi import documented, json_doc, ref

_migrations_applied = False


@documented(
    {
        "get": {
            "operationId": "healthcheck",
            "tags": ["server"],
            "x-authenticated": False,
            "responses": {
                "200": {
                    "description": "The process answers.",
                    "content": {"text/plain": {"schema": {"const": "ok"}}},
                }
            },
        }
    }
)
@require_GET
def healthcheck(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers; no dependency is checked."""
    return HttpResponse("ok", content_type="text/plain")


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
                    "The database answers and every migration is applied.",
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
                                        "enum": ["database", "migrations"]
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
    """Readiness: 200 only when the database answers and every migration is applied."""
    failed = _database_ready()
    if failed is None:
        return JsonResponse(
            {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}
        )
    message = {
        "database": "The database is unreachable.",
        "migrations": "The database has unapplied migrations.",
    }[failed]
    body = {
        "error": {
            "message": message,
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
