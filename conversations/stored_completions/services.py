"""Stored chat completion writes. Callers look a stored completion up with
conversations.stored_completions.selectors first (which checks what the caller may see).
"""

from typing import Any

from django.db import transaction

from conversations.models import StoredCompletion
from conversations.selectors import Caller
from conversations.services import caller_project_id
from conversations.validation import metadata_clean
from janserver.http.json_body import storable


@transaction.atomic
def stored_completion_create(
    *,
    caller: Caller,
    public_id: str,
    model: str,
    messages: list[dict[str, Any]],
    parameters: dict[str, Any],
    completion: dict[str, Any],
    metadata: dict[str, str],
) -> StoredCompletion:
    """Keep a chat completion under its own id in the caller's project (metadata
    already checked). Raises IntegrityError if the id is taken: a model server that
    reuses ids gets its later completions refused, never mixed with earlier ones."""
    return StoredCompletion.objects.create(
        public_id=public_id,
        owner=caller.user,
        project_id=caller_project_id(caller),
        model=model,
        messages=messages,
        parameters=parameters,
        completion=storable(completion),
        metadata=metadata,
    )


@transaction.atomic
def stored_completion_update(
    *, stored: StoredCompletion, metadata: Any
) -> StoredCompletion:
    """Replace a stored completion's metadata (None clears it); raise InvalidRequest
    for bad metadata."""
    stored.metadata = metadata_clean(metadata)
    stored.save(update_fields=["metadata", "updated_at"])
    return stored


@transaction.atomic
def stored_completion_delete(*, stored: StoredCompletion) -> None:
    """Delete a stored completion."""
    stored.delete()
