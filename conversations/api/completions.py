"""The async view of Jan's conversation-aware chat completions."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from conversations.api.openapi import CONV_CHAT_COMPLETIONS
from conversations.completions.flow import turn_respond
from inference import pipeline
from inference.payloads import CHAT
from janserver.api.openapi import documented
from janserver.http.answers import answer_response
from janserver.http.pumped import PumpedResponse


@documented(CONV_CHAT_COMPLETIONS)
@csrf_exempt
@require_POST
async def conv_chat_completions(request: HttpRequest) -> HttpResponse | PumpedResponse:
    call = await pipeline.enter(request, f"conv.{CHAT.name}")
    return answer_response(await turn_respond(call))
