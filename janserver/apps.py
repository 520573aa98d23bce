from django.apps import AppConfig


class JanserverConfig(AppConfig):
    """The project package as an app: cache invalidation signals, checks, schema hooks."""

    name = "janserver"
    verbose_name = "janserver"

    def ready(self) -> None:
        from django.contrib import admin

        admin.site.site_header = "janserver administration"
        admin.site.site_title = "janserver admin"
        admin.site.index_title = "Organizations, users, keys and models"
        from janserver import auth_signals, checks  # noqa: F401 - they register themselves
        from janserver.api import schema_extensions  # noqa: F401

        auth_signals.connect_model_signals()
