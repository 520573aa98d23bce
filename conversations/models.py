"""Conversations, their items, workspaces that group them, and stored responses."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from janserver.ids import (
    new_conversation_id,
    new_item_id,
    new_response_id,
    new_workspace_id,
)
from orgs.models import ApiKey, Project

# conv_/resp_ + 42 characters and msg_ + 42 do not fit the 40 of the shorter ids.
LONG_ID_LENGTH = 64


def _choices_check(
    field: str, choices: type[models.TextChoices], name: str
) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__in": choices.values}), name=name
    )


class Workspace(models.Model):
    """A named group of one owner's conversations with a shared system instruction.

    Jan's newer API calls it a project (`/v1/projects`): a chat project, not an
    organization project (orgs.models.Project, `/v1/organization/projects`).
    """

    public_id = models.CharField(
        max_length=40, unique=True, editable=False, default=new_workspace_id
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="workspaces",
        db_index=False,  # the first column of conv_ws_owner_list_idx
    )
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="workspaces", db_index=False
    )
    name = models.CharField(max_length=50)
    instruction = models.TextField(blank=True)
    is_favorite = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["owner", "created_at", "id"], name="conv_ws_owner_list_idx"
            ),
            models.Index(
                fields=["project", "created_at", "id"], name="conv_ws_project_list_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class Conversation(models.Model):
    public_id = models.CharField(
        max_length=LONG_ID_LENGTH,
        unique=True,
        editable=False,
        default=new_conversation_id,
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="conversations",
        db_index=False,  # the first column of conv_owner_list_idx
    )
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="conversations", db_index=False
    )
    workspace = models.ForeignKey(
        Workspace,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
        db_index=False,
    )
    title = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The position of the last item appended; positions are never reused.
    last_position = models.PositiveBigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        indexes = [
            models.Index(
                fields=["owner", "created_at", "id"], name="conv_owner_list_idx"
            ),
            models.Index(
                fields=["project", "created_at", "id"], name="conv_project_list_idx"
            ),
            models.Index(
                fields=["workspace", "created_at", "id"], name="conv_workspace_list_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title or 'Conversation'} ({self.public_id})"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class ItemType(models.TextChoices):
    MESSAGE = "message", "Message"
    FUNCTION_CALL = "function_call", "Function call"
    FUNCTION_CALL_OUTPUT = "function_call_output", "Function call output"
    REASONING = "reasoning", "Reasoning"
    # Tools the gateway ran in a response (conversations.responses.toolruns).
    WEB_SEARCH_CALL = "web_search_call", "Web search call"
    MCP_CALL = "mcp_call", "MCP call"
    MCP_LIST_TOOLS = "mcp_list_tools", "MCP tool list"


class MessageRole(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"
    SYSTEM = "system", "System"
    DEVELOPER = "developer", "Developer"


class ItemStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    INCOMPLETE = "incomplete", "Incomplete"
    FAILED = "failed", "Failed"  # a tool call item's only


class ResponseStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    INCOMPLETE = "incomplete", "Incomplete"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Response(models.Model):
    """One Responses API call: its request, its output items and how it ended."""

    public_id = models.CharField(
        max_length=LONG_ID_LENGTH,
        unique=True,
        editable=False,
        default=new_response_id,
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="responses",
        db_index=False,
    )
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="responses", db_index=False
    )
    api_key = models.ForeignKey(
        ApiKey,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="responses",
    )
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="responses",
    )
    previous_response = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    model = models.CharField(max_length=256)
    status = models.CharField(
        max_length=16, choices=ResponseStatus.choices, default=ResponseStatus.QUEUED
    )
    background = models.BooleanField(default=False)
    store = models.BooleanField(default=True)
    instructions = models.TextField(blank=True)
    # The request as given (string or item list) and the sampling/tool parameters.
    input = models.JSONField(default=list, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    output = models.JSONField(default=list, blank=True)
    usage = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    incomplete_details = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            _choices_check("status", ResponseStatus, "conv_response_status_valid"),
        ]
        indexes = [
            models.Index(
                fields=["owner", "created_at", "id"], name="conv_resp_owner_list_idx"
            ),
            models.Index(
                fields=["project", "created_at", "id"],
                name="conv_resp_project_list_idx",
            ),
            # Finding unfinished responses (background work, stuck-response sweeps).
            models.Index(
                fields=["status", "created_at"],
                condition=models.Q(
                    status__in=[ResponseStatus.QUEUED, ResponseStatus.IN_PROGRESS]
                ),
                name="conv_resp_unfinished_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.status} ({self.public_id})"


class Item(models.Model):
    """One conversation item in OpenAI's shapes; `position` orders a conversation."""

    # Unique through Meta (conv_item_public_id_unique): a unique field would also get
    # a LIKE index on PostgreSQL, one more index written by every insert, never read.
    public_id = models.CharField(
        max_length=LONG_ID_LENGTH, editable=False, default=new_item_id
    )
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="items",
        db_index=False,  # the first column of conv_item_position_unique
    )
    position = models.PositiveBigIntegerField(editable=False)
    type = models.CharField(max_length=32, choices=ItemType.choices)
    role = models.CharField(max_length=16, choices=MessageRole.choices, blank=True)
    status = models.CharField(
        max_length=16, choices=ItemStatus.choices, default=ItemStatus.COMPLETED
    )
    # Message content parts, or a reasoning item's reasoning_text parts.
    content = models.JSONField(null=True, blank=True)
    call_id = models.CharField(max_length=128, blank=True)
    name = models.CharField(max_length=128, blank=True)
    arguments = models.TextField(blank=True)
    # A function call's output: a string or a list of input content parts.
    output = models.JSONField(null=True, blank=True)
    summary = models.JSONField(null=True, blank=True)
    encrypted_content = models.TextField(blank=True)
    # The rest of a tool item: server_label, error, tools (mcp_*), action (web search).
    details = models.JSONField(null=True, blank=True)
    response = models.ForeignKey(
        Response,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="items",
        db_index=False,  # conv_item_response_idx, of the items that have one
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [
            # Most items (those of chat turns and the items API) have no response:
            # they stay out of this index, and their inserts do not write to it.
            models.Index(
                fields=["response"],
                name="conv_item_response_idx",
                condition=models.Q(response__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["public_id"], name="conv_item_public_id_unique"
            ),
            models.UniqueConstraint(
                fields=["conversation", "position"], name="conv_item_position_unique"
            ),
            _choices_check("type", ItemType, "conv_item_type_valid"),
            _choices_check("status", ItemStatus, "conv_item_status_valid"),
            models.CheckConstraint(
                condition=(
                    models.Q(type=ItemType.MESSAGE, role__in=MessageRole.values)
                    | (~models.Q(type=ItemType.MESSAGE) & models.Q(role=""))
                ),
                name="conv_item_role_matches_type",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.role} ({self.public_id})".replace("  ", " ")


class IdempotencyStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"


class IdempotencyKey(models.Model):
    """A client's `Idempotency-Key` for one route: the first request's outcome.

    `scope` names the caller (a project key, or a user in a project) so that two
    callers never share keys. While the first request runs, a retry is refused (409);
    once it finished, a retry gets `result` back instead of doing the work again.
    """

    scope = models.CharField(max_length=64)
    route = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    # SHA-256 of the request body: the same key with another body is a client error.
    request_hash = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16,
        choices=IdempotencyStatus.choices,
        default=IdempotencyStatus.IN_PROGRESS,
    )
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    # What to answer a retry: the route decides the shape (e.g. the stored items).
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "route", "key"], name="conv_idempotency_key_unique"
            ),
            _choices_check(
                "status", IdempotencyStatus, "conv_idempotency_status_valid"
            ),
        ]
        # Expiry sweeps.
        indexes = [models.Index(fields=["created_at"], name="conv_idempotency_age_idx")]

    def __str__(self) -> str:
        return f"{self.route} {self.key} ({self.status})"


class StoredCompletion(models.Model):
    """A chat completion kept with `store: true` (OpenAI's stored chat completions).

    `public_id` is the completion's own id as the client received it (the model
    server's `chatcmpl-…`); `messages` are the input messages sent to the model,
    `completion` the chat.completion object answered, `parameters` the request's
    other fields worth showing back (temperature, tools, …).
    """

    public_id = models.CharField(max_length=LONG_ID_LENGTH, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="stored_completions",
        db_index=False,  # the first column of conv_stored_owner_list_idx
    )
    project = models.ForeignKey(
        Project,
        on_delete=models.CASCADE,
        related_name="stored_completions",
        db_index=False,
    )
    model = models.CharField(max_length=256)
    messages = models.JSONField(default=list, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    completion = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["owner", "created_at", "id"], name="conv_stored_owner_list_idx"
            ),
            models.Index(
                fields=["project", "created_at", "id"],
                name="conv_stored_project_list_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} ({self.public_id})"
