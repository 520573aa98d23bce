"""Admin for conversations, workspaces (chat projects), responses and stored chat
completions: read-only, deletes go through services."""

from django.contrib import admin
from django.db.models import QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from conversations.models import (
    Conversation,
    IdempotencyKey,
    Item,
    Response,
    StoredCompletion,
    Workspace,
)
from conversations.services import conversation_delete

# A conversation may hold many thousands of items; its page shows the newest ones.
INLINE_ITEMS = 50


class ReadOnlyMixin:
    """Rows are written by the API: nothing is added, changed or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ItemInline(ReadOnlyMixin, admin.TabularInline):
    model = Item
    fields = (
        *("position", "public_id", "type", "role", "status"),
        *("content", "call_id", "name", "created_at"),
    )
    readonly_fields = fields
    ordering = ("-position",)
    extra = 0
    verbose_name_plural = f"Items (the newest {INLINE_ITEMS})"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Item]:
        items = super().get_queryset(request)
        match = request.resolver_match
        object_id = match.kwargs.get("object_id") if match else None
        if not object_id:
            return items.none()
        # The formset filters this queryset again, so it cannot be sliced: keep the
        # items from the INLINE_ITEMS-th newest position on instead.
        nth_newest = (
            Item.objects.filter(conversation_id=object_id)
            .order_by("-position")
            .values("position")[INLINE_ITEMS - 1 : INLINE_ITEMS]
        )
        return items.filter(position__gte=Coalesce(Subquery(nth_newest), Value(0)))


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        *("public_id", "title", "owner", "project", "workspace"),
        *("last_position", "created_at", "deleted_at"),
    )
    list_filter = (("deleted_at", admin.EmptyFieldListFilter),)
    list_select_related = ("owner", "project", "workspace")
    search_fields = ("public_id", "owner__email", "project__public_id", "title")
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        *("public_id", "title", "owner", "project", "workspace", "metadata"),
        *("last_position", "created_at", "updated_at", "deleted_at"),
    )
    readonly_fields = fields
    inlines = (ItemInline,)
    actions = ("delete_conversations",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return super().get_queryset(request).select_related(*self.list_select_related)

    def get_actions(self, request):
        # The action soft-deletes; Django's own bulk delete would remove rows outright.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_soft_delete_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("conversations.delete_conversation")

    @admin.action(
        description="Delete selected conversations (soft delete)",
        permissions=["soft_delete"],
    )
    def delete_conversations(self, request, queryset):
        live = list(queryset.filter(deleted_at__isnull=True))
        for conversation in live:
            conversation_delete(conversation=conversation)
        self.message_user(request, f"Deleted {len(live)} conversation(s).")


@admin.register(Workspace)
class WorkspaceAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        *("public_id", "name", "owner", "project", "is_favorite"),
        *("archived_at", "created_at"),
    )
    list_filter = ("is_favorite", ("archived_at", admin.EmptyFieldListFilter))
    list_select_related = ("owner", "project")
    search_fields = ("public_id", "owner__email", "project__public_id", "name")
    ordering = ("-created_at",)
    fields = (
        *("public_id", "name", "owner", "project", "instruction"),
        *("is_favorite", "archived_at", "created_at", "updated_at"),
    )
    readonly_fields = fields


@admin.register(StoredCompletion)
class StoredCompletionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("public_id", "model", "owner", "project", "created_at")
    list_select_related = ("owner", "project")
    search_fields = ("public_id", "owner__email", "project__public_id")
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        *("public_id", "model", "owner", "project", "metadata"),
        *("messages", "parameters", "completion", "created_at", "updated_at"),
    )
    readonly_fields = fields


@admin.register(Response)
class ResponseAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        *("public_id", "model", "status", "owner", "project"),
        *("background", "created_at", "completed_at"),
    )
    list_filter = ("status", "background")
    list_select_related = ("owner", "project")
    search_fields = (
        *("public_id", "owner__email", "project__public_id"),
        "conversation__public_id",
    )
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        *("public_id", "model", "status", "background", "store"),
        *("owner", "project", "api_key", "conversation", "previous_response"),
        *("instructions", "input", "parameters", "metadata", "output"),
        *("usage", "error", "incomplete_details"),
        *("created_at", "updated_at", "completed_at"),
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Response]:
        # The change page names these too; a select_related here replaces the
        # changelist's list_select_related, so both sets are named.
        related = ("api_key", "conversation", "previous_response")
        queryset = super().get_queryset(request)
        return queryset.select_related(*self.list_select_related, *related)


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        *("key", "route", "scope", "status", "conversation"),
        *("created_at", "completed_at"),
    )
    list_filter = ("status", "route")
    list_select_related = ("conversation",)
    search_fields = ("key", "scope", "conversation__public_id")
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        *("key", "route", "scope", "request_hash", "status", "conversation"),
        *("result", "created_at", "completed_at"),
    )
    readonly_fields = fields
