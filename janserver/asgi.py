"""ASGI entry point: Django behind the request boundary, in a Channels protocol router."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "janserver.settings")
# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from janserver.boundary import RequestBoundary  # noqa: E402

application = ProtocolTypeRouter({"http": RequestBoundary(django_asgi_app)})
