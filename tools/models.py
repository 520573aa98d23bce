"""Organizations' own MCP servers, and the ledger of tool calls."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from janserver.ids import new_mcp_server_id, new_tool_call_id


class ServerStatus(models.TextChoices):
    UNKNOWN = "unknown", "Not asked yet"
    UP = "up", "Up"
    DOWN = "down", "Down"


class McpServer(models.Model):
    """An MCP server an organization registered: its tools appear on /v1/mcp for the
    projects that may use them, under the server's label."""

    public_id = models.CharField(
        max_length=40, unique=True, editable=False, default=new_mcp_server_id
    )
    organization = models.ForeignKey(
        "orgs.Organization", on_delete=models.CASCADE, related_name="mcp_servers"
    )
    label = models.CharField(
        max_length=32,
        help_text="Names the server's tools (`label__tool`) and OpenAI's `server_label`.",
    )
    description = models.CharField(max_length=500, blank=True)
    url = models.URLField(max_length=500, help_text="The streamable HTTP endpoint.")
    auth_header_name = models.CharField(max_length=100, blank=True)
    auth_header_encrypted = models.TextField(blank=True, editable=False)
    auth_header_hint = models.CharField(max_length=16, blank=True, editable=False)
    # None: every tool the server lists; a list: only these (the server's own names).
    allowed_tools = models.JSONField(null=True, blank=True)
    all_projects = models.BooleanField(default=False)
    projects = models.ManyToManyField(
        "orgs.Project", blank=True, related_name="mcp_servers"
    )
    active = models.BooleanField(default=True)
    status = models.CharField(
        max_length=16, choices=ServerStatus.choices, default=ServerStatus.UNKNOWN
    )
    status_detail = models.CharField(max_length=300, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "label"], name="tools_mcp_server_label_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    status__in=[choice.value for choice in ServerStatus]
                ),
                name="tools_mcp_server_status_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "created_at"], name="tools_mcp_server_org_idx"
            ),
        ]
        verbose_name = "MCP server"

    def __str__(self) -> str:
        return f"{self.label} ({self.public_id})"


class ToolOutcome(models.TextChoices):
    OK = "ok", "OK"
    TOOL_ERROR = "tool_error", "The tool reported an error"
    INVALID_ARGUMENTS = "invalid_arguments", "Arguments refused"
    UNAVAILABLE = "unavailable", "Tool or its server unavailable"
    TIMEOUT = "timeout", "Timed out"
    TOO_LARGE = "too_large", "Result over the size cap"
    CANCELLED = "cancelled", "Abandoned by the caller"


class ToolCall(models.Model):
    """One tool call: which tool on which server, for whom, how long, how it ended."""

    public_id = models.CharField(
        max_length=40, unique=True, editable=False, default=new_tool_call_id
    )
    request_id = models.CharField(max_length=40, db_index=True)
    tool = models.CharField(max_length=200)
    server = models.ForeignKey(
        McpServer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # "builtin" for google_search and scrape; a registered server's label otherwise.
    server_label = models.CharField(max_length=32)
    # Where the call came from: "mcp" (/v1/mcp) or "responses" (a Responses run).
    channel = models.CharField(max_length=16)
    outcome = models.CharField(max_length=20, choices=ToolOutcome.choices)
    duration_ms = models.FloatField(default=0)
    organization = models.ForeignKey(
        "orgs.Organization", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    project = models.ForeignKey(
        "orgs.Project", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    api_key = models.ForeignKey(
        "orgs.ApiKey", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["organization", "created_at"], name="tools_call_org_idx"
            ),
            models.Index(fields=["created_at"], name="tools_call_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.tool} {self.outcome}"
