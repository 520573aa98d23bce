"""OpenAI's project rate limits: /v1/organization/projects/{id}/rate_limits.

One limit per model the project may use (`rl-` + the model id), listed whether set
or not; janserver adds `max_concurrent_requests`, and a null limit is no limit. The
limits of a whole organization, of every model at once and of single keys are set in
the admin or with `manage.py ratelimit`.
"""

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from inference import catalog
from janserver.api.pagination import MAX_LIMIT, list_body
from janserver.api.schema import list_schema, operation
from janserver.errors import InvalidRequest, NotFound
from limits.api.serializers import (
    ID_PREFIX,
    RateLimitSerializer,
    RateLimitUpdateSerializer,
    rate_limit_object,
)
from limits.selectors import project_model_limits
from limits.services import rate_limit_set
from orgs.models import Project
from orgs.permissions import OrganizationView
from orgs.selectors import project_get_for_admin


class RateLimitListQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=100)
    after = serializers.CharField(required=False, max_length=300)
    before = serializers.CharField(required=False, max_length=300)


def _models(project: Project) -> list[str]:
    """The project's models: those it may use, and any it has a limit for."""
    visible = catalog.project_model_ids(
        catalog.snapshot(), project.organization_id, project.pk
    )
    return sorted({*visible, *project_model_limits(project=project)})


def _page(ids: list[str], query: dict[str, Any]) -> tuple[list[str], bool]:
    start, end = 0, len(ids)
    for name in ("after", "before"):
        cursor = query.get(name)
        if cursor is None:
            continue
        if cursor not in ids:
            raise InvalidRequest(
                f"The cursor {cursor!r} is not a rate limit of this project.",
                param=name,
            )
        if name == "after":
            start = ids.index(cursor) + 1
        else:
            end = ids.index(cursor)
    window = ids[start:end]
    if query.get("before") is not None and query.get("after") is None:
        kept = window[-query["limit"] :]
        return kept, len(window) > len(kept)
    return window[: query["limit"]], len(window) > query["limit"]


class ProjectRateLimitListView(OrganizationView):
    @list_schema(
        "list-project-rate-limits",
        RateLimitSerializer,
        "ProjectRateLimit",
        RateLimitListQuerySerializer,
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = project_get_for_admin(access=self.access, public_id=project_id)
        query = RateLimitListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = project_model_limits(project=project)
        ids = [ID_PREFIX + model for model in _models(project)]
        page, has_more = _page(ids, dict(query.validated_data))
        models = [rate_limit_id[len(ID_PREFIX) :] for rate_limit_id in page]
        data = [rate_limit_object(model, rows.get(model)) for model in models]
        return Response(list_body(data, has_more))


class ProjectRateLimitDetailView(OrganizationView):
    @operation(
        "update-project-rate-limits",
        request=RateLimitUpdateSerializer,
        responses=RateLimitSerializer,
    )
    def post(self, request: Request, project_id: str, rate_limit_id: str) -> Response:
        project = project_get_for_admin(access=self.access, public_id=project_id)
        model = rate_limit_id[len(ID_PREFIX) :]
        if not rate_limit_id.startswith(ID_PREFIX) or model not in _models(project):
            raise NotFound(
                f"No rate limit with id {rate_limit_id!r} in this project.",
                param="rate_limit_id",
            )
        limits = RateLimitUpdateSerializer().to_internal_value(request.data)
        row = rate_limit_set(
            organization=project.organization,
            project=project,
            model=model,
            limits=limits,
        )
        return Response(rate_limit_object(model, row))
