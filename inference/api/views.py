"""Async views of the OpenAI inference routes."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from janserver.auth import arequire
from janserver.errors import NotFound


@require_GET
async def models_list(request: HttpRequest) -> JsonResponse:
    await arequire(request, access="project")
    # No model provider is registered yet (providers arrive with the inference gateway).
    return JsonResponse({"object": "list", "data": []})


@require_GET
async def model_detail(request: HttpRequest, model_id: str) -> JsonResponse:
    await arequire(request, access="project")
    raise NotFound(
        f"The model {model_id!r} does not exist.", param="model", code="model_not_found"
    )
