"""The async view of Jan's conversation-aware chat completions."""

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from conversations.completions.flow import turn_respond
from janserver.auth import arequire


@csrf_exempt
@require_POST
async def conv_chat_completions(
    request: HttpRequest,
) -> HttpResponse | StreamingHttpResponse:
    principal = await arequire(request, access="project")
    return await turn_respond(request, principal)
