"""ASGI entry point: Django behind the request boundary, in a Channels protocol router."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "janserver.settings")
# Django must be set up before anything imports models.
django.setup(set_prefix=False)

from janserver.handler import JanserverASGIHandler  # noqa: E402

django_asgi_app = JanserverASGIHandler()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from janserver.boundary import RequestBoundary  # noqa: E402
from janserver.lifespan import LifespanApp  # noqa: E402
from janserver.static import with_static_files  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": with_static_files(RequestBoundary(django_asgi_app)),
        "lifespan": LifespanApp(),
    }
)
