"""Django's PostgreSQL backend with janserver's pool check (janserver.db.pool)."""
