"""Typed readers for environment variables, used by janserver/settings.py only."""

import json
import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from dotenv import dotenv_values

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


# The settings module of `manage.py`, `make run` and the servers; the test settings
# never read the checkout's .env, so a developer's local file cannot change a test.
PROJECT_SETTINGS = "janserver.settings"


def env_file_load(local: Path) -> Path | None:
    """Add the variables of an env file to os.environ (the environment wins); return it.

    JANSERVER_ENV_FILE=path reads that file in any mode (production's opt-in; a missing
    file is an error), and JANSERVER_ENV_FILE set empty reads none. Otherwise `local`
    (the checkout's .env that `make run` writes) is read only when it turns DEBUG on and
    the environment does not turn it off: production ignores a stray .env.
    """
    chosen = os.environ.get("JANSERVER_ENV_FILE")
    if chosen is not None:
        if not chosen.strip():
            return None
        path = Path(chosen.strip())
        if not path.is_file():
            raise ImproperlyConfigured(f"JANSERVER_ENV_FILE names no file: {chosen!r}.")
        return _env_apply(path, dotenv_values(path))
    settings_module = os.environ.get("DJANGO_SETTINGS_MODULE", PROJECT_SETTINGS)
    if settings_module != PROJECT_SETTINGS or not local.is_file():
        return None
    values = dotenv_values(local)
    debug = os.environ.get("DJANGO_DEBUG", values.get("DJANGO_DEBUG") or "")
    if debug.strip().lower() not in _TRUE:
        return None
    return _env_apply(local, values)


def _env_apply(path: Path, values: dict[str, str | None]) -> Path:
    for name, value in values.items():
        if value is not None and name not in os.environ:
            os.environ[name] = value
    return path


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be a boolean (1/0, true/false), got {raw!r}."
    )


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}.") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}.") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def cors_origin_rules(entries: list[str]) -> tuple[list[str], list[str]]:
    """Split ALLOWED_CORS_HOSTS entries into exact origins and wildcard regexes.

    `https://app.example.com` is exact. `https://*.example.com` (or `*.example.com`,
    for http and https) matches any dot-separated subdomain of example.com, and never
    a look-alike such as `evil-example.com`.
    """
    exact: list[str] = []
    patterns: list[str] = []
    for entry in entries:
        if "*" not in entry:
            exact.append(entry.rstrip("/"))
            continue
        scheme, sep, host = entry.partition("://")
        if not sep:
            scheme, host = "https?", scheme
        else:
            scheme = re.escape(scheme)
        if not host.startswith("*.") or "*" in host[2:] or len(host) < 3:
            raise ImproperlyConfigured(
                f"ALLOWED_CORS_HOSTS entry {entry!r}: a wildcard must be a leading '*.'"
            )
        suffix = re.escape(host[2:].rstrip("/"))
        patterns.append(rf"(?i)^{scheme}://([a-z0-9-]+\.)+{suffix}$")
    return exact, patterns


OIDC_REQUIRED_FIELDS = ("id", "server_url", "client_id", "redirect_url")
OIDC_OPTIONAL_FIELDS = ("name", "secret", "email_domains", "require_verified_email")


def _oidc_app(index: int, entry: object) -> dict[str, object]:
    where = f"OIDC_PROVIDERS[{index}]"
    if not isinstance(entry, dict):
        raise ImproperlyConfigured(f"{where} must be a JSON object.")
    missing = [f for f in OIDC_REQUIRED_FIELDS if not entry.get(f)]
    unknown = set(entry) - {*OIDC_REQUIRED_FIELDS, *OIDC_OPTIONAL_FIELDS}
    if missing or unknown:
        raise ImproperlyConfigured(
            f"{where}: missing {missing or 'nothing'}, unknown {sorted(unknown) or 'nothing'} "
            f"(fields: {', '.join(OIDC_REQUIRED_FIELDS + OIDC_OPTIONAL_FIELDS)})."
        )
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", str(entry["id"])):
        raise ImproperlyConfigured(
            f"{where}.id must be a lowercase slug: {entry['id']!r}."
        )
    domains = entry.get("email_domains") or []
    if not isinstance(domains, list):
        raise ImproperlyConfigured(f"{where}.email_domains must be a list of domains.")
    settings = {
        "server_url": entry["server_url"],
        "redirect_url": entry["redirect_url"],
        "email_domains": domains,
        "require_verified_email": bool(entry.get("require_verified_email", True)),
    }
    return {
        "provider_id": entry["id"],
        "name": entry.get("name") or entry["id"],
        "client_id": entry["client_id"],
        "secret": entry.get("secret", ""),
        "settings": settings,
    }


def oidc_apps(name: str) -> list[dict[str, object]]:
    """Read django-allauth openid_connect APPS from a JSON list of providers.

    Each entry: {"id", "server_url", "client_id", "redirect_url"} and optionally
    "name", "secret", "email_domains" (a list) and "require_verified_email" (true).
    """
    raw = env_str(name)
    if not raw:
        return []
    try:
        entries = json.loads(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a JSON list of objects.") from None
    if not isinstance(entries, list):
        raise ImproperlyConfigured(f"{name} must be a JSON list of objects.")
    apps = [_oidc_app(index, entry) for index, entry in enumerate(entries)]
    ids = [app["provider_id"] for app in apps]
    if len(set(ids)) != len(ids):
        raise ImproperlyConfigured(f"{name} names a provider id twice.")
    return apps
