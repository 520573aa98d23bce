"""Cursor pagination for the admin lists: OpenAI's list envelope, `after` or Jan's `last`."""

from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from janserver.errors import InvalidRequest

ModelT = TypeVar("ModelT", bound=Model)

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class ListQuerySerializer(serializers.Serializer):
    """The cursor parameters every list takes; subclasses add their filters."""

    limit = serializers.IntegerField(
        min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT
    )
    order = serializers.ChoiceField(choices=["asc", "desc"], default="asc")
    after = serializers.CharField(required=False, max_length=64)
    last = serializers.CharField(required=False, max_length=64)


def list_query(
    request: Request, serializer_class: type[ListQuerySerializer] = ListQuerySerializer
) -> dict[str, Any]:
    """Return the validated query parameters of a list call (400 naming the bad one)."""
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def cursor_page(
    queryset: QuerySet[ModelT],
    query: dict[str, Any],
    *,
    id_field: str = "public_id",
    time_field: str = "created_at",
) -> tuple[list[ModelT], bool]:
    """Return one page of `queryset` ordered by (time_field, pk), and whether more follow.

    The cursor is the public id (`id_field`) of the last object seen; it is looked up
    in `queryset` itself, so an id the caller cannot see is refused like an unknown one.
    """
    ascending = query["order"] == "asc"
    sign, op = ("", "gt") if ascending else ("-", "lt")
    queryset = queryset.order_by(f"{sign}{time_field}", f"{sign}pk")
    after = query.get("after") or query.get("last")
    if after:
        cursor = queryset.filter(**{id_field: after}).values_list(time_field, "pk")
        found = cursor.first()
        if found is None:
            raise InvalidRequest(
                f"The cursor {after!r} is not an object of this list.", param="after"
            )
        at, pk = found
        queryset = queryset.filter(
            Q(**{f"{time_field}__{op}": at}) | Q(**{time_field: at, f"pk__{op}": pk})
        )
    limit = query["limit"]
    rows = list(queryset[: limit + 1])
    return rows[:limit], len(rows) > limit


def list_body(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """Return the list envelope around serialized objects."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def paginated_response(
    queryset: QuerySet[Any],
    query: dict[str, Any],
    serializer_class: type[serializers.BaseSerializer],
    **fields: str,
) -> Response:
    """Page `queryset` by `query` and answer with the serialized list envelope."""
    rows, has_more = cursor_page(queryset, query, **fields)
    data = serializer_class(rows, many=True).data
    return Response(list_body(list(data), has_more))
