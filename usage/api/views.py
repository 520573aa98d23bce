"""The usage and costs reports (OpenAI's Admin API) and the organization's prices."""

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from janserver.api.pagination import list_query, paginated_response
from janserver.api.schema import deleted, list_schema, operation
from janserver.api.shapes import deleted_body
from orgs.models import Organization
from orgs.permissions import OrganizationView
from usage.api.pages import page_for
from usage.api.schema import COSTS_PAGE, USAGE_PAGE, report_schema
from usage.api.serializers import (
    CostsQuerySerializer,
    ModelPriceCreateSerializer,
    ModelPriceSerializer,
    ModelPriceUpdateSerializer,
    UsageCompletionsQuerySerializer,
)
from usage.api.shapes import completions_results, costs_results, page_body
from usage.selectors import (
    Filters,
    price_get_for_admin,
    price_list,
    usage_buckets,
    usage_filters_resolve,
    window_buckets,
)
from usage.services import price_delete, price_set, price_update

LIST_FIELDS = (
    "group_by",
    "project_ids",
    "user_ids",
    "api_key_ids",
    "models",
    "line_items",
)


def report_query(request: Request, serializer_class: type) -> dict[str, Any]:
    """Return the validated query of a report; lists come repeated (`group_by=a&
    group_by=b`, the openai SDK's way) or with brackets (`group_by[]=a`)."""
    params: dict[str, Any] = {
        name: value
        for name, value in request.query_params.items()
        if name not in LIST_FIELDS and not name.endswith("[]")
    }
    for name in LIST_FIELDS:
        values = request.query_params.getlist(name) + request.query_params.getlist(
            f"{name}[]"
        )
        if values:
            params[name] = values
    serializer = serializer_class(data=params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class UsageCompletionsView(OrganizationView):
    @report_schema("usage-completions", UsageCompletionsQuerySerializer, USAGE_PAGE)
    def get(self, request: Request) -> Response:
        query = report_query(request, UsageCompletionsQuerySerializer)
        organization = self.access.organization
        page = page_for(
            report="completions",
            organization_public_id=organization.public_id,
            query=query,
        )
        filters = _filters(organization, query)
        if query["batch"] is True:  # janserver runs no batch jobs
            buckets = window_buckets(page.window)
        else:
            buckets = usage_buckets(
                organization=organization,
                window=page.window,
                group_by=[g for g in query["group_by"] if g in DIMENSIONS],
                filters=filters,
            )
        results = [completions_results(b, query["group_by"]) for b in buckets]
        return Response(page_body(buckets, results, page.next_page))


# The group_by values that are dimensions of the rollups (the others are constants).
DIMENSIONS = ("project_id", "user_id", "api_key_id", "model")


def _filters(organization: Organization, query: dict[str, Any]) -> Filters:
    return usage_filters_resolve(
        organization=organization,
        project_ids=query["project_ids"],
        user_ids=query.get("user_ids", []),
        api_key_ids=query["api_key_ids"],
        models=query.get("models", []),
    )


class CostsView(OrganizationView):
    @report_schema("usage-costs", CostsQuerySerializer, COSTS_PAGE)
    def get(self, request: Request) -> Response:
        query = report_query(request, CostsQuerySerializer)
        organization = self.access.organization
        page = page_for(
            report="costs", organization_public_id=organization.public_id, query=query
        )
        line_items = query["line_items"]
        filters = _filters(
            organization,
            {**query, "models": [item.rpartition(", ")[0] for item in line_items]},
        )
        group_by = [g for g in query["group_by"] if g in DIMENSIONS]
        buckets = usage_buckets(
            organization=organization,
            window=page.window,
            group_by=[*group_by, "model"],
            filters=filters,
        )
        results = [costs_results(b, query["group_by"], line_items) for b in buckets]
        return Response(page_body(buckets, results, page.next_page))


class ModelPriceListView(OrganizationView):
    @list_schema("list-model-prices", ModelPriceSerializer, "ModelPrice")
    def get(self, request: Request) -> Response:
        prices = price_list(organization=self.access.organization)
        return paginated_response(prices, list_query(request), ModelPriceSerializer)

    @operation(
        "set-model-price",
        request=ModelPriceCreateSerializer,
        responses=ModelPriceSerializer,
    )
    def post(self, request: Request) -> Response:
        serializer = ModelPriceCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        price = price_set(
            organization=self.access.organization, **serializer.validated_data
        )
        return Response(ModelPriceSerializer(price).data)


class ModelPriceDetailView(OrganizationView):
    @operation("retrieve-model-price", responses=ModelPriceSerializer)
    def get(self, request: Request, price_id: str) -> Response:
        price = price_get_for_admin(access=self.access, public_id=price_id)
        return Response(ModelPriceSerializer(price).data)

    @operation(
        "modify-model-price",
        request=ModelPriceUpdateSerializer,
        responses=ModelPriceSerializer,
    )
    def post(self, request: Request, price_id: str) -> Response:
        price = price_get_for_admin(access=self.access, public_id=price_id)
        serializer = ModelPriceUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        price = price_update(price=price, **serializer.validated_data)
        return Response(ModelPriceSerializer(price).data)

    @operation("delete-model-price", responses=deleted("ModelPrice"))
    def delete(self, request: Request, price_id: str) -> Response:
        price_delete(price=price_get_for_admin(access=self.access, public_id=price_id))
        return Response(deleted_body("organization.model_price", price_id))
