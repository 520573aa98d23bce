"""System checks standing in for Django's middleware checks that janserver's subclasses fail.

Django's deploy checks look for its own middleware class paths; janserver installs
event-loop-friendly subclasses of them (janserver.http.fast_middleware), silences those
checks, and makes sure here that the subclasses are really installed.
"""

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register

REQUIRED = {
    "janserver.http.fast_middleware.SecurityMiddleware": "security.W001",
    "janserver.http.fast_middleware.XFrameOptionsMiddleware": "security.W002",
    "janserver.http.fast_middleware.CsrfViewMiddleware": "security.W003",
}


@register(Tags.security, deploy=True)
def check_security_middleware(app_configs: Any, **kwargs: Any) -> list[Warning]:
    return [
        Warning(
            f"{path} is not in MIDDLEWARE (it replaces Django's; see {replaced}).",
            id="janserver.W001",
        )
        for path, replaced in REQUIRED.items()
        if path not in settings.MIDDLEWARE
    ]
