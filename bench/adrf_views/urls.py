"""janserver's URLs plus /bench/adrf/models: GET /v1/models as an async DRF view (adrf),
with the same work (the credential from the per-process cache, the catalog)."""

from typing import Any

from adrf.views import APIView
from django.urls import path
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.response import Response

from inference import catalog
from janserver.auth import aauthenticate, principal_user
from janserver.errors import Forbidden
from janserver.principal import Principal, PrincipalKind
from janserver.urls import handler400, handler403, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


class CachedBearer(BaseAuthentication):
    async def authenticate(self, request: Request) -> Any:  # type: ignore[override]
        principal = await aauthenticate(request._request)
        return None if principal is None else (principal_user(principal), principal)

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class ProjectCaller:
    async def has_permission(self, request: Request, view: Any) -> bool:
        if not isinstance(request.auth, Principal):
            return False
        if request.auth.kind == PrincipalKind.ADMIN_KEY:
            raise Forbidden("Admin API keys can only use organization admin routes.")
        return True


class ModelListView(APIView):
    authentication_classes = [CachedBearer]
    permission_classes = [ProjectCaller]

    async def get(self, request: Request) -> Response:
        snapshot = await catalog.asnapshot()
        assert isinstance(request.auth, Principal)  # noqa: S101 (ProjectCaller made sure)
        models = catalog.visible_models(snapshot, request.auth)
        data = [models[key].as_openai() for key in sorted(models)]
        return Response({"object": "list", "data": data})


urlpatterns = [*urlpatterns, path("bench/adrf/models", ModelListView.as_view())]
