"""janserver's settings plus adrf and the twin route (bench.view_bench only)."""

from janserver.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "adrf"]  # noqa: F405
ROOT_URLCONF = "bench.adrf_views.urls"
