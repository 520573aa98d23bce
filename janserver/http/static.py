"""Static files (the admin's CSS and JS) served by the ASGI app itself, as whitenoise does.

Under gunicorn nothing else serves /static/: files gathered by `collectstatic` into
STATIC_ROOT are answered by servestatic (whitenoise's ASGI fork) before Django, with
long-lived caching for hashed names. In DEBUG, Django's runserver serves them instead.
"""

import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from servestatic import ServeStaticASGI

logger = logging.getLogger("janserver.http.static")


def with_static_files(app: Any) -> Any:
    """Wrap an ASGI app so that it also serves STATIC_ROOT under STATIC_URL."""
    if settings.DEBUG:
        return app  # runserver serves static files itself in development
    root = Path(settings.STATIC_ROOT)
    if not root.is_dir():
        logger.warning(
            "STATIC_ROOT %s does not exist: run `manage.py collectstatic` for the admin's "
            "styles (the container image does it at build time)",
            root,
        )
        return app
    return ServeStaticASGI(
        app, root=root, prefix="/" + settings.STATIC_URL.strip("/") + "/"
    )
