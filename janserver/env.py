"""Typed readers for environment variables, used by janserver/settings.py only."""

import os
import re

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


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
