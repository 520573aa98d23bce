"""Async views of the OpenAI inference routes: each enters the pipeline first.

/v1/chat/completions is served by conversations.api.chat_completions: it may keep
a conversation turn or a stored completion (plain requests go to inference.gateway
alike)."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from inference import catalog, gateway, pipeline
from inference.api import openapi
from inference.payloads import COMPLETIONS, Endpoint
from janserver.api.openapi import documented
from janserver.http.answers import answer_response
from janserver.http.pumped import PumpedResponse


def _provider_data(request: HttpRequest) -> bool:
    return request.headers.get("X-Provider-Data", "").lower() == "true"


@documented(openapi.MODELS_LIST)
@require_GET
async def models_list(request: HttpRequest) -> JsonResponse:
    call = await pipeline.enter(request, "models")
    snapshot = await catalog.asnapshot()
    models = catalog.visible_models(snapshot, call.principal)
    detail = _provider_data(request)
    data = [models[key].as_openai(provider_data=detail) for key in sorted(models)]
    return JsonResponse({"object": "list", "data": data})


@documented(openapi.MODEL_DETAIL)
@require_GET
async def model_detail(request: HttpRequest, model_id: str) -> JsonResponse:
    call = await pipeline.enter(request, "models")
    entry = await pipeline.model_for(call.principal, model_id)
    return JsonResponse(entry.as_openai(provider_data=_provider_data(request)))


async def _complete(
    request: HttpRequest, endpoint: Endpoint
) -> HttpResponse | PumpedResponse:
    call = await pipeline.enter(request, endpoint.name)
    return answer_response(await gateway.complete(call, endpoint))


@documented(openapi.COMPLETIONS)
@csrf_exempt
@require_POST
async def completions(request: HttpRequest) -> HttpResponse | PumpedResponse:
    return await _complete(request, COMPLETIONS)
