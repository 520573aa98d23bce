"""Conversation writes: conversations, their items and workspaces.

Callers look objects up with conversations.selectors first (which checks what the
caller may see); these functions trust what they are given.
"""

from collections.abc import Sequence
from enum import Enum
from typing import Any, Final

from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation, Item, Response, Workspace
from conversations.positions import counters_advance
from conversations.selectors import CACHE_KIND, Caller
from conversations.validation import (
    MAX_ITEMS_PER_CALL,
    WORKSPACE_NAME_MAX_CHARS,
    items_clean,
    metadata_clean,
    text_max_chars,
    title_clean,
)
from janserver import auth_cache
from janserver.errors import InvalidRequest, NotFound
from orgs.services import project_personal_ensure


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET


def caller_project_id(caller: Caller) -> int:
    """Return the (organization) project new objects of `caller` go to: the named
    one, else the user's personal project (created if need be)."""
    if caller.project_id is not None:
        return caller.project_id
    return project_personal_ensure(user=caller.user).pk


@transaction.atomic
def conversation_create(
    *,
    caller: Caller,
    title: str | None = "",
    metadata: dict[str, Any] | None = None,
    items: Sequence[Any] | None = None,
    workspace: Workspace | None = None,
) -> Conversation:
    """Create a conversation owned by the caller's user, with its first items.

    It goes to `workspace`'s project when given (a workspace the caller may see),
    else to the caller's project. Raises InvalidRequest for bad input.
    """
    cleaned = items_clean([] if items is None else items)
    conversation = Conversation.objects.create(
        owner=caller.user,
        project_id=workspace.project_id if workspace else caller_project_id(caller),
        workspace=workspace,
        title=title_clean(title),
        metadata=metadata_clean(metadata),
    )
    if cleaned:
        items_insert(conversation, cleaned, response=None)
    return conversation


@transaction.atomic
def conversation_update(
    *,
    conversation: Conversation,
    title: str | _Unset | None = UNSET,
    metadata: dict[str, Any] | _Unset | None = UNSET,
) -> Conversation:
    """Replace a conversation's title and/or metadata (None clears; UNSET keeps)."""
    fields = ["updated_at"]
    if title is not UNSET:
        conversation.title = title_clean(title)
        fields.append("title")
    if metadata is not UNSET:
        conversation.metadata = metadata_clean(metadata)
        fields.append("metadata")
    conversation.save(update_fields=fields)
    auth_cache.invalidate(CACHE_KIND, conversation.public_id)
    return conversation


@transaction.atomic
def conversation_workspace_set(
    *, conversation: Conversation, workspace: Workspace | None
) -> Conversation:
    """Move a conversation into `workspace` (of the same project), or out of any."""
    if workspace is not None and workspace.project_id != conversation.project_id:
        raise NotFound(
            f"No workspace with id {workspace.public_id!r}.", param="workspace_id"
        )
    conversation.workspace = workspace
    conversation.save(update_fields=["workspace", "updated_at"])
    auth_cache.invalidate(CACHE_KIND, conversation.public_id)
    return conversation


@transaction.atomic
def conversation_delete(*, conversation: Conversation) -> None:
    """Soft-delete a conversation: it and its items are no longer found or listed."""
    Conversation.objects.filter(pk=conversation.pk, deleted_at__isnull=True).update(
        deleted_at=timezone.now()
    )
    auth_cache.invalidate(CACHE_KIND, conversation.public_id)


def items_insert(
    conversation: Conversation,
    cleaned: list[dict[str, Any]],
    *,
    response: Response | None,
) -> list[Item]:
    """Insert already-checked item field values at the end of `conversation` (call
    inside a transaction); raise NotFound if it was deleted meanwhile."""
    now = timezone.now()
    last = counters_advance({conversation.pk: len(cleaned)}, now).get(conversation.pk)
    if last is None:
        raise NotFound(
            f"No conversation with id {conversation.public_id!r}.",
            param="conversation_id",
        )
    conversation.last_position, conversation.updated_at = last, now
    first = last - len(cleaned) + 1
    items = [
        Item(
            conversation=conversation,
            position=first + offset,
            response=response,
            created_at=now,
            **fields,
        )
        for offset, fields in enumerate(cleaned)
    ]
    return Item.objects.bulk_create(items)


@transaction.atomic
def conversation_items_append(
    *,
    conversation: Conversation,
    items: Sequence[Any],
    response: Response | None = None,
    max_items: int = MAX_ITEMS_PER_CALL,
) -> list[Item]:
    """Validate OpenAI input items and append them to a conversation, in order.

    Positions are assigned atomically and never reused. Raises InvalidRequest (with
    `param` such as `items[3].role`) for bad items, NotFound if the conversation was
    deleted meanwhile.
    """
    cleaned = items_clean(items, max_items=max_items)
    if not cleaned:
        raise InvalidRequest("Give at least one item.", param="items")
    return items_insert(conversation, cleaned, response=response)


@transaction.atomic
def item_delete(*, item: Item) -> Conversation:
    """Delete one item and return its conversation."""
    conversation = item.conversation
    item.delete()
    conversation.save(update_fields=["updated_at"])
    return conversation


def _name_clean(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("The workspace name must not be empty.", param="name")
    name = name.strip()
    if len(name) > WORKSPACE_NAME_MAX_CHARS:
        raise InvalidRequest(
            f"The workspace name is too long: at most {WORKSPACE_NAME_MAX_CHARS} "
            "characters.",
            param="name",
        )
    return name


def _instruction_clean(instruction: Any) -> str:
    if instruction is None:
        return ""
    if not isinstance(instruction, str):
        raise InvalidRequest("The instruction must be a string.", param="instruction")
    if len(instruction) > text_max_chars():
        raise InvalidRequest(
            f"The instruction is too long: at most {text_max_chars()} characters.",
            param="instruction",
        )
    return instruction


@transaction.atomic
def workspace_create(
    *,
    caller: Caller,
    name: str,
    instruction: str | None = "",
    is_favorite: bool = False,
    is_archived: bool = False,
) -> Workspace:
    """Create a workspace (a chat project) of the caller's user in the caller's
    (organization) project."""
    return Workspace.objects.create(
        owner=caller.user,
        project_id=caller_project_id(caller),
        name=_name_clean(name),
        instruction=_instruction_clean(instruction),
        is_favorite=is_favorite,
        archived_at=timezone.now() if is_archived else None,
    )


@transaction.atomic
def workspace_update(
    *,
    workspace: Workspace,
    name: str | _Unset = UNSET,
    instruction: str | _Unset | None = UNSET,
    is_favorite: bool | _Unset = UNSET,
    is_archived: bool | _Unset = UNSET,
) -> Workspace:
    """Change the given fields of a workspace (UNSET keeps one; a None or ""
    instruction removes it). Archiving keeps the first archive time."""
    fields = ["updated_at"]
    if name is not UNSET:
        workspace.name = _name_clean(name)
        fields.append("name")
    if instruction is not UNSET:
        workspace.instruction = _instruction_clean(instruction)
        fields.append("instruction")
    if is_favorite is not UNSET:
        workspace.is_favorite = is_favorite
        fields.append("is_favorite")
    if is_archived is not UNSET and is_archived != workspace.is_archived:
        workspace.archived_at = timezone.now() if is_archived else None
        fields.append("archived_at")
    workspace.save(update_fields=fields)
    if "instruction" in fields:
        auth_cache.invalidate(CACHE_KIND)  # rare: every cached conversation goes
    return workspace


@transaction.atomic
def workspace_rename(*, workspace: Workspace, name: str) -> Workspace:
    """Rename a workspace (1 to 50 characters)."""
    workspace.name = _name_clean(name)
    workspace.save(update_fields=["name", "updated_at"])
    return workspace


@transaction.atomic
def workspace_instruction_set(
    *, workspace: Workspace, instruction: str | None
) -> Workspace:
    """Replace a workspace's instruction (None or "" removes it)."""
    workspace.instruction = _instruction_clean(instruction)
    workspace.save(update_fields=["instruction", "updated_at"])
    auth_cache.invalidate(CACHE_KIND)  # rare: every cached conversation goes
    return workspace


@transaction.atomic
def workspace_delete(*, workspace: Workspace) -> None:
    """Delete a workspace and soft-delete its conversations."""
    Conversation.objects.filter(workspace=workspace, deleted_at__isnull=True).update(
        deleted_at=timezone.now()
    )
    workspace.delete()
    auth_cache.invalidate(CACHE_KIND)  # rare: every cached conversation goes
