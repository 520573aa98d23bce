"""Admin for organizations' MCP servers (writes go through services) and the ledger of
tool calls (read-only, next to the usage ledger)."""

from django import forms
from django.contrib import admin

from janserver.errors import APIError
from orgs.models import Project
from tools.models import McpServer, ToolCall
from tools.services import mcp_server_delete, mcp_server_register, mcp_server_update


class McpServerForm(forms.ModelForm):
    """Saves through mcp_server_register / mcp_server_update, which validate every
    field. The auth header is write-only: never rendered back, stored encrypted."""

    url = forms.CharField(max_length=500, help_text="The streamable HTTP endpoint.")
    auth_header = forms.CharField(
        required=False,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password"}
        ),
        help_text="The header's value, e.g. 'Bearer …'. Write-only: stored encrypted "
        "and never shown. Leave empty to keep the current one.",
    )
    auth_header_name = forms.CharField(
        required=False, max_length=100, help_text="Default: Authorization."
    )
    remove_auth_header = forms.BooleanField(
        required=False, help_text="Remove the stored auth header."
    )
    allowed_tools_text = forms.CharField(
        required=False,
        label="Allowed tools",
        help_text="The server's tool names, one per line; empty for every tool.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    class Meta:
        model = McpServer
        fields = (
            *("organization", "label", "description", "url"),
            *("all_projects", "projects", "active"),
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.allowed_tools is not None:
            self.initial["allowed_tools_text"] = "\n".join(self.instance.allowed_tools)

    def _post_clean(self):
        if self.errors:
            return
        try:
            self.server = self._save()
        except APIError as error:
            field = error.param if error.param in self.fields else None
            self.add_error(field, error.message)

    def _save(self) -> McpServer:
        data = self.cleaned_data
        text = data.get("allowed_tools_text") or ""
        allowed = [line.strip() for line in text.splitlines() if line.strip()] or None
        projects = [project.public_id for project in data.get("projects") or []]
        fields = {
            "label": data["label"],
            "url": data["url"],
            "description": data.get("description") or "",
            "allowed_tools": allowed,
            "all_projects": data["all_projects"],
            "projects": projects,
            "active": data["active"],
        }
        header_name = data.get("auth_header_name") or None
        if self.instance.pk is None:
            return mcp_server_register(
                organization=data["organization"],
                auth_header=data["auth_header"] or None,
                auth_header_name=header_name,
                **fields,
            )
        header = "" if data.get("remove_auth_header") else data["auth_header"] or None
        return mcp_server_update(
            server=self.instance,
            auth_header=header,
            auth_header_name=header_name,
            **fields,
        )


@admin.register(McpServer)
class McpServerAdmin(admin.ModelAdmin):
    form = McpServerForm
    list_display = (
        *("public_id", "label", "organization", "url", "active"),
        *("status", "checked_at", "auth_header_hint"),
    )
    list_filter = ("active", "status")
    list_select_related = ("organization",)
    search_fields = ("public_id", "label", "url", "organization__public_id")
    ordering = ("-created_at",)
    autocomplete_fields = ("organization",)
    filter_horizontal = ("projects",)
    readonly_fields = (
        *("public_id", "auth_header_hint", "status", "status_detail"),
        *("checked_at", "created_at", "updated_at"),
    )
    fieldsets = (
        (
            None,
            {"fields": ("public_id", "organization", "label", "description", "url")},
        ),
        (
            "Who may use it",
            {"fields": ("all_projects", "projects", "allowed_tools_text", "active")},
        ),
        (
            "Auth header",
            {
                "fields": (
                    *("auth_header_name", "auth_header_hint"),
                    *("auth_header", "remove_auth_header"),
                )
            },
        ),
        ("Status", {"fields": ("status", "status_detail", "checked_at")}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "projects":
            kwargs["queryset"] = Project.objects.select_related("organization")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_form(self, request, form, change):
        return form.server  # saved by the form's service call

    def save_model(self, request, obj, form, change):
        pass

    def save_related(self, request, form, formsets, change):
        pass  # the service set the projects

    def delete_model(self, request, obj):
        mcp_server_delete(server=obj)

    def delete_queryset(self, request, queryset):
        for server in queryset:
            mcp_server_delete(server=server)


@admin.register(ToolCall)
class ToolCallAdmin(admin.ModelAdmin):
    """The ledger of tool calls, written by the gateway only."""

    list_display = (
        *("created_at", "request_id", "tool", "server_label", "channel"),
        *("outcome", "duration_ms", "organization", "project", "user"),
    )
    list_filter = ("outcome", "channel", "server_label", "organization")
    list_select_related = ("organization", "project", "user")
    search_fields = ("request_id", "tool", "public_id", "organization__public_id")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
