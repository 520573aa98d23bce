"""The real URLs plus a few views that exercise the error contract."""

from django.http import HttpRequest
from django.urls import path
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from janserver.errors import Conflict
from janserver.urls import handler400, handler403, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


class EchoCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=10)
    count = serializers.IntegerField(min_value=0)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=3), required=False
    )


class EchoView(APIView):
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        serializer = EchoCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class ConflictView(APIView):
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        raise Conflict("Already running.")


def crash(request: HttpRequest) -> None:
    raise RuntimeError("secret internals: postgres://admin:hunter2@db-internal:5432")


async def acrash(request: HttpRequest) -> None:
    raise RuntimeError("async secret internals")


async def aconflict(request: HttpRequest) -> None:
    raise Conflict("Async conflict.")


urlpatterns = [
    *urlpatterns,
    path("test/echo", EchoView.as_view()),
    path("test/conflict", ConflictView.as_view()),
    path("test/crash", crash),
    path("test/acrash", acrash),
    path("test/aconflict", aconflict),
]
