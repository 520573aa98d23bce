"""ASGI entry point: Django behind the request boundary, in a Channels protocol router."""

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "janserver.settings")
# Django must be set up before anything imports models.
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402

from janserver.http.handler import JanserverASGIHandler  # noqa: E402

# docs/decisions/0001: the handler that serves async views without thread hops.
django_asgi_app = (
    ASGIHandler() if "handler" in settings.BYPASSES_OFF else JanserverASGIHandler()
)

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from janserver.http.boundary import RequestBoundary  # noqa: E402
from janserver.http.static import with_static_files  # noqa: E402
from janserver.lifespan import LifespanApp  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": with_static_files(RequestBoundary(django_asgi_app)),
        "lifespan": LifespanApp(),
    }
)

get_resolver().url_patterns  # noqa: B018 (imports every view now, not on a request)
if "gc_freeze" not in settings.BYPASSES_OFF:
    # docs/decisions/0006: what is loaded by now (the URL configuration and views
    # included) lives as long as the worker: freezing it keeps it out of the
    # collector's full passes (one pass over Django's objects stalled every stream of
    # the worker for ~80 ms), and the youngest generation is collected less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
