"""Django's PostgreSQL backend whose connection pool checks connections with
janserver.db.pool.check before handing them out (settings: DATABASES' ENGINE)."""

from typing import Any

from django.db.backends.postgresql import base

from janserver.db.pool import check


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> Any:
        pool = super().pool  # type: ignore[misc]  # not in django-stubs yet
        # Django sets the pool's `check` itself (CONN_HEALTH_CHECKS: a round trip per
        # checkout) and offers no way to name another; psycopg_pool keeps it here.
        if pool is not None and pool._check is not self._check_pooled:
            pool._check = self._check_pooled
        return pool

    def _check_pooled(self, connection: Any) -> None:
        check(connection, alias=self.alias)
