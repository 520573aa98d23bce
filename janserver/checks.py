"""System checks standing in for Django's middleware checks that janserver's subclasses fail.

Django's deploy checks look for its own middleware class paths; janserver installs
event-loop-friendly subclasses of them (janserver.http.fast_middleware), silences those
checks, and makes sure here that the subclasses are really installed.
"""

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register

# janserver's middleware (or, with the fast_middleware bypass off, Django's own), and
# the Django check it stands in for.
REQUIRED = {
    ("janserver.http.fast_middleware.SecurityMiddleware", "django.middleware.security.SecurityMiddleware"): "security.W001",
    ("janserver.http.fast_middleware.XFrameOptionsMiddleware", "django.middleware.clickjacking.XFrameOptionsMiddleware"): "security.W002",
    ("janserver.http.fast_middleware.CsrfViewMiddleware", "django.middleware.csrf.CsrfViewMiddleware"): "security.W003",
}  # fmt: skip


@register(Tags.security, deploy=True)
def check_security_middleware(app_configs: Any, **kwargs: Any) -> list[Warning]:
    return [
        Warning(
            f"{paths[0]} is not in MIDDLEWARE (it replaces Django's; see {replaced}).",
            id="janserver.W001",
        )
        for paths, replaced in REQUIRED.items()
        if not set(paths) & set(settings.MIDDLEWARE)
    ]
