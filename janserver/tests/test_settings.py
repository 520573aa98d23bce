"""Settings come from the environment; production refuses to start without its secrets."""

import os
import subprocess
import sys

import pytest

from janserver.tests.live_server import ROOT

STRONG = {
    "DJANGO_SECRET_KEY": "k" * 20 + "Zq8#pL2@vN5!xR7$wT1%yU4^" + "m" * 20,
    "JWT_SECRET": "j" * 64,
    "APIKEY_SECRET": "a" * 40,
}


pytestmark = pytest.mark.server  # each test loads Django in a process of its own


def load_settings(code: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    """Import janserver.settings in a fresh interpreter with exactly this environment."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "JWT_", "APIKEY_", "DATABASE_", "REDIS_"))
    }
    clean["JANSERVER_ENV_FILE"] = ""  # never the checkout's own .env
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", f"import janserver.settings as s\n{code}"],
        env=clean,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    "missing", ["DJANGO_SECRET_KEY", "JWT_SECRET", "APIKEY_SECRET"]
)
def test_production_refuses_to_start_without_a_secret(missing):
    """Without DJANGO_DEBUG, each missing secret stops start-up with a message naming it."""
    env = {k: v for k, v in STRONG.items() if k != missing}
    result = load_settings(**env)
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr


def test_production_refuses_a_short_secret():
    result = load_settings(**{**STRONG, "JWT_SECRET": "short"})
    assert result.returncode != 0
    assert "JWT_SECRET is too short" in result.stderr


def test_debug_allows_generated_dev_secrets():
    result = load_settings(
        "print(s.SECRET_KEY.startswith('insecure-dev-only'), s.DEBUG)", DJANGO_DEBUG="1"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


def test_defaults_are_sqlite_and_in_memory_layers():
    code = "print(s.DATABASES['default']['ENGINE'], s.CACHES['default']['BACKEND'], s.CHANNEL_LAYERS['default']['BACKEND'])"
    result = load_settings(code, **STRONG)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "django.core.cache.backends.locmem.LocMemCache",
        "channels.layers.InMemoryChannelLayer",
    ]


def test_database_and_redis_urls_select_postgres_pool_and_redis():
    code = (
        "d = s.DATABASES['default']\n"
        "print(d['ENGINE'], d['NAME'], d['HOST'], d['CONN_MAX_AGE'], 'pool' in d['OPTIONS'])\n"
        "print(s.CACHES['default']['BACKEND'], s.CHANNEL_LAYERS['default']['BACKEND'])"
    )
    result = load_settings(
        code,
        **STRONG,
        DATABASE_URL="postgres://u:p@db.example:5432/jan",
        REDIS_URL="redis://cache.example:6379/1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "janserver.db.postgresql",
        "jan",
        "db.example",
        "0",
        "True",
        "janserver.redis_cache.SharedPoolRedisCache",
        "channels_redis.pubsub.RedisPubSubChannelLayer",
    ]


def test_bad_boolean_is_a_clear_error():
    result = load_settings(**STRONG, DJANGO_DEBUG="maybe")
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be a boolean" in result.stderr


def test_check_deploy_passes_with_production_settings():
    """`manage.py check --deploy` with production-like env reports no warnings."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))
    }
    env.update(
        STRONG,
        DJANGO_ALLOWED_HOSTS="api.example.com",
        DJANGO_SETTINGS_MODULE="janserver.settings",
        JANSERVER_ENV_FILE="",  # production reads no local .env
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("where", ["environment", "env_file"])
@pytest.mark.parametrize("debug", ["1", "true"])
def test_the_production_server_refuses_debug_mode(debug, where, tmp_path):
    """gunicorn.conf.py stops before serving when DJANGO_DEBUG is on, in the
    environment or in the file JANSERVER_ENV_FILE names."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))
    }
    if where == "environment":
        env.update(STRONG, DJANGO_DEBUG=debug)
    else:
        env_file = tmp_path / "production.env"
        env_file.write_text(f"DJANGO_DEBUG={debug}\n")
        env.update(STRONG, JANSERVER_ENV_FILE=str(env_file))
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--check-config"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "DJANGO_DEBUG is on: the production server refuses to start" in result.stderr


def test_the_production_server_ignores_the_checkouts_local_env_file():
    """gunicorn.conf.py sets JANSERVER_ENV_FILE empty unless given: settings loaded
    under it never read a local .env (even one turning DEBUG on)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))
    }
    env.pop("JANSERVER_ENV_FILE", None)
    env.update(STRONG)
    code = (
        "import runpy, os; runpy.run_path('gunicorn.conf.py'); "
        "print(repr(os.environ['JANSERVER_ENV_FILE']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "''"
