"""Admin for tenancy: read-mostly; keys and invites are created only through services."""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError

from janserver.errors import APIError
from orgs.models import (
    ApiKey,
    Invite,
    InviteProject,
    Organization,
    OrganizationMember,
    Project,
    ProjectMember,
    ProjectStatus,
)
from orgs.services import api_key_create, api_key_revoke, invite_create, project_archive
from usage.dashboard import object_usage_context


class ServiceAddForm(forms.ModelForm):
    """A model form whose last validation step creates the object through `service`.

    The form's fields are the service's keyword arguments. Service errors become form
    errors; on success `created` holds the service's (object, one-time secret).
    """

    service: Callable[..., tuple[Any, str]]

    def _post_clean(self):
        # The model's own validation (clean(), constraints) runs first.
        super()._post_clean()  # type: ignore[misc]
        if self.errors:
            return
        try:
            self.created = type(self).service(**self.cleaned_data)
        except APIError as error:
            self._add_service_error(error.param, error.message)
        except ValidationError as error:
            for field, field_errors in error.update_error_dict({}).items():
                self._add_service_error(field, field_errors)

    def _add_service_error(self, field, error):
        self.add_error(field if field in self.fields else None, error)


class ApiKeyAddForm(ServiceAddForm):
    service = staticmethod(api_key_create)

    class Meta:
        model = ApiKey
        fields = (
            "kind",
            "organization",
            "project",
            "owner",
            "name",
            "description",
            "expires_at",
        )


class InviteAddForm(ServiceAddForm):
    service = staticmethod(invite_create)

    class Meta:
        model = Invite
        fields = ("organization", "email", "role", "invited_by")


class OneTimeSecretAdmin(admin.ModelAdmin):
    """Base admin whose add page creates through a service and shows the secret once.

    The add page has no inlines and nothing left to save after the form's service
    call, so nothing can fail once the object exists (the view is one transaction).
    """

    add_form = ServiceAddForm
    add_fieldsets: Any = ()
    change_readonly_fields: tuple[str, ...] = ()
    current_user_field = ""  # an add-form field that defaults to the admin user
    reveal_message = "Copy this secret now; it will not be shown again: {secret}"

    def get_fieldsets(self, request, obj=None):
        return super().get_fieldsets(request, obj) if obj else self.add_fieldsets

    def get_readonly_fields(self, request, obj=None):
        return self.change_readonly_fields if obj else ()

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change, **kwargs)

    def get_inlines(self, request, obj):
        return super().get_inlines(request, obj) if obj else []

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault(self.current_user_field, request.user.pk)
        return initial

    def save_form(self, request, form, change):
        if change:
            return super().save_form(request, form, change)
        obj, request.one_time_secret = form.created
        return obj

    def save_model(self, request, obj, form, change):
        if change:  # on add, the service has saved it
            super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def response_add(self, request, obj, post_url_continue=None):
        message = self.reveal_message.format(secret=request.one_time_secret)
        self.message_user(request, message, messages.WARNING)
        return super().response_add(request, obj, post_url_continue)


class UsageChartMixin:
    """A change page showing the object's usage (a chart and its table) over a
    window chosen with `?usage_window=` (templates admin/orgs/<model>/change_form)."""

    usage_scope: str  # the rollups' column of this object: project_id or api_key_id

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        if obj is not None:
            usage = object_usage_context(
                organization_id=obj.organization_id,
                query=request.GET,
                **{self.usage_scope: obj.pk},
            )
            extra_context = {**(extra_context or {}), **usage}
        return super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]


class RevokedFilter(admin.SimpleListFilter):
    title = "revoked"
    parameter_name = "revoked"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(revoked_at__isnull=self.value() == "no")
        return queryset


class OrganizationMemberInline(admin.TabularInline):
    model = OrganizationMember
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)
    extra = 0


class ProjectInline(admin.TabularInline):
    model = Project
    fields = ("public_id", "name", "status", "created_at")
    readonly_fields = ("public_id", "status", "created_at")
    show_change_link = True
    extra = 0


class ProjectMemberInline(admin.TabularInline):
    model = ProjectMember
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)
    extra = 0


class ApiKeyInline(admin.TabularInline):
    """A project's keys, read-only: keys are created only through the service."""

    model = ApiKey
    fields = ("public_id", "name", "kind", "hint", "revoked_at")
    readonly_fields = fields
    show_change_link = True
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class InviteProjectInline(admin.TabularInline):
    model = InviteProject
    fields = ("project", "role")
    autocomplete_fields = ("project",)
    extra = 0


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("public_id", "name", "is_default", "created_at")
    list_filter = ("is_default",)
    search_fields = ("public_id", "name")
    ordering = ("-created_at",)
    fields = ("public_id", "name", "is_default", "created_at", "updated_at")
    readonly_fields = ("public_id", "is_default", "created_at", "updated_at")
    inlines = (OrganizationMemberInline, ProjectInline)


@admin.register(OrganizationMember)
class OrganizationMemberAdmin(admin.ModelAdmin):
    list_display = ("organization", "user", "role", "created_at")
    list_filter = ("role",)
    list_select_related = ("organization", "user")
    search_fields = ("organization__public_id", "organization__name", "user__email")
    ordering = ("-created_at",)
    autocomplete_fields = ("organization", "user")
    readonly_fields = ("created_at",)


@admin.register(Project)
class ProjectAdmin(UsageChartMixin, admin.ModelAdmin):
    usage_scope = "project_id"
    list_display = ("public_id", "name", "organization", "status", "created_at")
    list_filter = ("status",)
    list_select_related = ("organization",)
    search_fields = ("public_id", "name", "organization__public_id")
    ordering = ("-created_at",)
    fields = (
        *("public_id", "organization", "name"),
        *("status", "archived_at", "created_at", "updated_at"),
    )
    readonly_fields = ("public_id", "status", "archived_at", "created_at", "updated_at")
    autocomplete_fields = ("organization",)
    inlines = (ProjectMemberInline, ApiKeyInline)
    actions = ("archive_projects",)

    def get_readonly_fields(self, request, obj=None):
        # Moving a project would leave its keys pointing at another organization.
        return (*self.readonly_fields, "organization") if obj else self.readonly_fields

    @admin.action(description="Archive selected projects")
    def archive_projects(self, request, queryset):
        active = list(queryset.filter(status=ProjectStatus.ACTIVE))
        for project in active:
            project_archive(project=project)
        self.message_user(request, f"Archived {len(active)} project(s).")


@admin.register(ProjectMember)
class ProjectMemberAdmin(admin.ModelAdmin):
    list_display = ("project", "user", "role", "created_at")
    list_filter = ("role",)
    list_select_related = ("project", "user")
    search_fields = ("project__public_id", "project__name", "user__email")
    ordering = ("-created_at",)
    autocomplete_fields = ("project", "user")
    readonly_fields = ("created_at",)


@admin.register(Invite)
class InviteAdmin(OneTimeSecretAdmin):
    add_form = InviteAddForm
    add_fieldsets = ((None, {"fields": InviteAddForm.Meta.fields}),)
    current_user_field = "invited_by"
    reveal_message = "Copy this invite code now; it will not be shown again: {secret}"
    list_display = (
        "public_id",
        "email",
        "organization",
        "role",
        "status",
        "expires_at",
    )
    list_filter = ("role", "status")
    list_select_related = ("organization",)
    search_fields = ("public_id", "email", "organization__public_id")
    ordering = ("-invited_at",)
    fields = (
        *("public_id", "organization", "email", "role", "status", "invited_by"),
        *("invited_at", "expires_at", "accepted_at", "secret_hash"),
    )
    # Status, dates and hash change only through services (check constraints tie them).
    change_readonly_fields = tuple(name for name in fields if name != "role")
    autocomplete_fields = ("organization", "invited_by")
    inlines = (InviteProjectInline,)


@admin.register(ApiKey)
class ApiKeyAdmin(UsageChartMixin, OneTimeSecretAdmin):
    usage_scope = "api_key_id"
    add_form = ApiKeyAddForm
    add_fieldsets = ((None, {"fields": ApiKeyAddForm.Meta.fields}),)
    current_user_field = "owner"
    reveal_message = "Copy this API key now; it will not be shown again: {secret}"
    list_display = (
        *("public_id", "name", "kind", "organization", "project", "owner", "hint"),
        *("created_at", "expires_at", "revoked", "last_used_at"),
    )
    list_filter = ("kind", RevokedFilter, "enabled")
    list_select_related = ("organization", "project", "owner")
    search_fields = ("public_id", "name", "owner__email", "organization__public_id")
    ordering = ("-created_at",)
    fieldsets = (
        (None, {"fields": ("public_id", "kind", "organization", "project", "owner")}),
        ("Details", {"fields": ("name", "description", "enabled", "expires_at")}),
        ("Usage", {"fields": ("created_at", "revoked_at", "last_used_at")}),
        # The hint only: the key's HMAC would let anyone who reads it test guesses
        # offline against a leaked APIKEY_SECRET.
        ("Secret", {"fields": ("hint",)}),
    )
    # On the change page only name, description, enabled and expires_at are editable.
    change_readonly_fields = (
        *("public_id", "kind", "organization", "project", "owner"),
        *("created_at", "revoked_at", "last_used_at", "hint"),
    )
    autocomplete_fields = ("organization", "project", "owner")
    actions = ("revoke_api_keys",)

    def has_delete_permission(self, request, obj=None):
        # Revocation is the delete: it keeps the row for the audit trail.
        return False

    @admin.display(boolean=True, ordering="revoked_at")
    def revoked(self, obj):
        return obj.is_revoked

    @admin.action(description="Revoke selected API keys")
    def revoke_api_keys(self, request, queryset):
        live = list(queryset.filter(revoked_at__isnull=True))
        for api_key in live:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {len(live)} API key(s).")
