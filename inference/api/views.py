"""Async views of the OpenAI inference routes."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from inference import catalog, gateway
from inference.payloads import CHAT, COMPLETIONS
from janserver.auth import arequire
from janserver.pumped import PumpedResponse


def _provider_data(request: HttpRequest) -> bool:
    return request.headers.get("X-Provider-Data", "").lower() == "true"


@require_GET
async def models_list(request: HttpRequest) -> JsonResponse:
    principal = await arequire(request, access="project")
    snapshot = await catalog.asnapshot()
    models = catalog.visible_models(snapshot, principal)
    detail = _provider_data(request)
    data = [models[key].as_openai(provider_data=detail) for key in sorted(models)]
    return JsonResponse({"object": "list", "data": data})


@require_GET
async def model_detail(request: HttpRequest, model_id: str) -> JsonResponse:
    principal = await arequire(request, access="project")
    entry = await gateway.model_for(principal, model_id)
    return JsonResponse(entry.as_openai(provider_data=_provider_data(request)))


@csrf_exempt
@require_POST
async def chat_completions(
    request: HttpRequest,
) -> HttpResponse | PumpedResponse:
    return await gateway.handle(request, CHAT)


@csrf_exempt
@require_POST
async def completions(request: HttpRequest) -> HttpResponse | PumpedResponse:
    return await gateway.handle(request, COMPLETIONS)
