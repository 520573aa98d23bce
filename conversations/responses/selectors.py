"""Response reads, scoped to what the caller may see, and the context of a new one.

Visibility is the conversations' (conversations.selectors.Caller): a project key sees
its project's responses, a user their own. A foreign or unknown id is NotFound alike.
"""

from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from conversations.models import Conversation, Item, ItemType, Response
from conversations.responses.objects import UNFINISHED_STATUSES
from conversations.selectors import Caller, conversation_get
from conversations.shapes import items_rendered
from janserver.errors import InvalidRequest, NotFound


def _max_context_items() -> int:
    return int(settings.RESPONSES_MAX_CONTEXT_ITEMS)


def response_list(*, caller: Caller) -> QuerySet[Response]:
    """Return the stored responses the caller may see."""
    return Response.objects.filter(caller.visible(), store=True)


def response_get(
    *, caller: Caller, public_id: str, param: str = "response_id"
) -> Response:
    """Return a stored response the caller may see; raise NotFound."""
    try:
        return (
            response_list(caller=caller)
            .select_related("previous_response", "conversation")
            .get(public_id=public_id)
        )
    except Response.DoesNotExist:
        raise NotFound(f"No response with id {public_id!r}.", param=param) from None


def response_history(
    *, caller: Caller, public_id: str
) -> tuple[Response, list[dict[str, Any]], str]:
    """Return a previous response, the items of its whole chain and the chain's root id.

    The items are every response's input items then output items, oldest first.
    Raises NotFound for an unknown or foreign id, InvalidRequest for a response that
    has not finished.
    """
    previous = response_get(
        caller=caller, public_id=public_id, param="previous_response_id"
    )
    if previous.status in UNFINISHED_STATUSES:
        raise InvalidRequest(
            f"Previous response with id {public_id!r} has not finished yet.",
            param="previous_response_id",
        )
    chain: list[Response] = [previous]
    ancestors = response_list(caller=caller).only(
        "input", "output", "previous_response_id", "public_id"
    )
    current = previous
    while (
        current.previous_response_id is not None and len(chain) < _max_context_items()
    ):
        found = ancestors.filter(pk=current.previous_response_id).first()
        if found is None:  # deleted: the history starts after it
            break
        chain.append(found)
        current = found
    items: list[dict[str, Any]] = []
    for response in reversed(chain):
        items += response.input if isinstance(response.input, list) else []
        items += response.output or []
    return previous, items, chain[-1].public_id


def _item_shape(item: Item) -> dict[str, Any]:
    shape: dict[str, Any] = {"type": item.type, "id": item.public_id}
    if item.type == ItemType.MESSAGE:
        shape.update(role=item.role, content=item.content)
    elif item.type == ItemType.FUNCTION_CALL:
        shape.update(call_id=item.call_id, name=item.name, arguments=item.arguments)
    elif item.type == ItemType.FUNCTION_CALL_OUTPUT:
        shape.update(call_id=item.call_id, output=item.output)
    elif item.type == ItemType.MCP_CALL:
        shape.update(name=item.name, arguments=item.arguments, output=item.output)
        shape.update(item.details or {})
    return shape


def conversation_context(
    *, caller: Caller, public_id: str
) -> tuple[Conversation, list[dict[str, Any]], str]:
    """Return a conversation the caller may see, its latest items (oldest first) and
    its workspace's instruction ("" without one); raise NotFound."""
    try:
        conversation = conversation_get(caller=caller, public_id=public_id)
    except NotFound:
        raise NotFound(
            f"No conversation with id {public_id!r}.", param="conversation"
        ) from None
    newest = Item.objects.filter(conversation=conversation).order_by("-position")
    items = [_item_shape(item) for item in newest[: _max_context_items()]]
    items.reverse()
    workspace = conversation.workspace
    return conversation, items, workspace.instruction if workspace else ""


def input_item_page(
    *, response: Response, limit: int, order: str, after: str | None
) -> tuple[list[dict[str, Any]], bool]:
    """Return one page of a response's input items and whether more follow."""
    items = response.input if isinstance(response.input, list) else []
    if order == "desc":
        items = list(reversed(items))
    if after:
        ids = [item.get("id") for item in items]
        if after not in ids:
            raise InvalidRequest(
                f"The cursor {after!r} is not an input item of this response.",
                param="after",
            )
        items = items[ids.index(after) + 1 :]
    return items_rendered(items[:limit]), len(items) > limit
