"""Stored chat completion reads, scoped to what the caller may see (see
conversations.selectors.Caller: a project key its project's, a user their own)."""

from typing import Any

from django.db.models import QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from conversations.models import StoredCompletion
from conversations.selectors import Caller
from conversations.stored_completions.objects import message_id, message_object
from janserver.errors import InvalidRequest, NotFound


def stored_completion_list(
    *,
    caller: Caller,
    model: str | None = None,
    metadata: dict[str, str] | None = None,
) -> QuerySet[StoredCompletion]:
    """Return the stored completions the caller may see, of `model` if given, whose
    metadata holds every pair of `metadata`."""
    stored = StoredCompletion.objects.filter(caller.visible())
    if model:
        stored = stored.filter(model=model)
    for index, (key, value) in enumerate((metadata or {}).items()):
        # One key, whatever it holds (never split at "__" as a lookup path would
        # be), compared as text: JSON lookups would read "0" as the number 0.
        name = f"metadata_{index}"
        text = Cast(KeyTextTransform(key, "metadata"), TextField())
        stored = stored.annotate(**{name: text}).filter(**{name: value})
    return stored


def stored_completion_get(*, caller: Caller, public_id: str) -> StoredCompletion:
    """Return a stored completion the caller may see; raise NotFound."""
    try:
        return StoredCompletion.objects.filter(caller.visible()).get(
            public_id=public_id
        )
    except StoredCompletion.DoesNotExist:
        raise NotFound(
            f"No chat completion with id {public_id!r}.", param="completion_id"
        ) from None


def stored_message_page(
    *, stored: StoredCompletion, limit: int, order: str, after: str | None
) -> tuple[list[dict[str, Any]], bool]:
    """Return one page of a stored completion's input messages, and whether more
    follow; `after` must be one of its message ids (InvalidRequest otherwise)."""
    indexes = list(range(len(stored.messages)))
    if order == "desc":
        indexes.reverse()
    if after:
        ids = [message_id(stored, index) for index in indexes]
        if after not in ids:
            raise InvalidRequest(
                f"The cursor {after!r} is not a message of this chat completion.",
                param="after",
            )
        indexes = indexes[ids.index(after) + 1 :]
    page = [message_object(stored, index) for index in indexes[:limit]]
    return page, len(indexes) > limit
