"""Test settings: the production settings, made fast and offline."""

import os

os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-" + "x" * 48)
os.environ.setdefault("JWT_SECRET", "test-jwt-secret-" + "x" * 64)
os.environ.setdefault("APIKEY_SECRET", "test-apikey-secret-" + "x" * 32)
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")

from janserver.settings import *

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
AUTH_THROTTLE_RATE = "10000/min"  # throttle tests set their own rate

# A live gateway in a test thread shares the test database: on SQLite that needs a file
# (an in-memory shared-cache database locks whole tables between connections). Its name
# stays the same from run to run, so that --reuse-db reuses it (pytest-django adds each
# pytest-xdist process's name to it).
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}
# The fake upstreams listen on loopback, also for organizations' providers (tests of
# the outbound policy set their own ranges).
EGRESS_ALLOWED_RANGES = ["127.0.0.0/8", "::1/128"]
MODEL_PROVIDER_SECRET = "test-model-provider-secret-" + "m" * 32
