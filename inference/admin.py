"""Admin for providers, their models and the usage ledger: writes go through services."""

from django import forms
from django.contrib import admin, messages

from inference.crypto import ProviderKeyUnreadable
from inference.models import Provider, ProviderModel, UsageRecord
from inference.services import (
    provider_create,
    provider_delete,
    provider_models_sync,
    provider_update,
    providers_check,
)
from janserver.errors import (
    APIError,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
)

SYNC_ERRORS = (
    UpstreamError,
    UpstreamTimeout,
    ServiceUnavailable,
    ProviderKeyUnreadable,
)


class ReadOnlyAdminMixin:
    """Nothing is added, changed or deleted here: the rows come from elsewhere."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ProviderForm(forms.ModelForm):
    """Saves through provider_create / provider_update, which validate every field.

    The API key is write-only: never rendered back, stored encrypted by the service.
    """

    # A CharField, because the model's URLValidator refuses single-label hosts such as
    # http://vllm:8101/v1; the service validates the URL instead.
    base_url = forms.CharField(
        max_length=500, help_text="OpenAI base URL with /v1, http or https."
    )
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password"}
        ),
        help_text="Write-only: stored encrypted and never shown. Leave empty to keep "
        "the current key.",
    )
    remove_api_key = forms.BooleanField(
        required=False, help_text="Remove the stored API key."
    )

    class Meta:
        model = Provider
        fields = (
            *("name", "vendor", "base_url", "organization", "project"),
            *("weight", "active"),
        )

    def _post_clean(self):
        # No model validation: the service's is complete, and its errors are clearer.
        if self.errors:
            return
        try:
            self.provider = self._save()
        except APIError as error:
            field = error.param if error.param in self.fields else None
            self.add_error(field, error.message)

    def _save(self) -> Provider:
        data = self.cleaned_data
        fields = {name: data[name] for name in ("name", "vendor", "base_url")}
        fields |= {"weight": data["weight"], "active": data["active"]}
        if self.instance.pk is None:
            scope = {"organization": data["organization"], "project": data["project"]}
            return provider_create(**fields, **scope, api_key=data["api_key"] or None)
        api_key = "" if data.get("remove_api_key") else data["api_key"] or None
        return provider_update(provider=self.instance, **fields, api_key=api_key)


class ProviderModelInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A provider's models, as its last sync saw them."""

    model = ProviderModel
    fields = ("model_id", "active", "context_length", "updated_at")
    readonly_fields = fields
    ordering = ("model_id",)
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("provider")


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = (
        *("public_id", "name", "vendor", "scope", "base_url"),
        *("active", "weight", "api_key_hint"),
    )
    list_filter = ("vendor", "active")
    search_fields = ("public_id", "name", "base_url")
    ordering = ("-created_at",)
    autocomplete_fields = ("organization", "project")
    inlines = (ProviderModelInline,)
    actions = ("sync_models", "check_health")
    fieldsets = (
        (None, {"fields": ("public_id", "name", "vendor", "base_url")}),
        ("Routing", {"fields": ("weight", "active")}),
        ("Scope", {"fields": ("organization", "project")}),
        ("API key", {"fields": ("api_key_hint", "api_key", "remove_api_key")}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )
    add_fieldsets = (
        (None, {"fields": ("name", "vendor", "base_url")}),
        ("Routing", {"fields": ("weight", "active")}),
        (
            "Scope",
            {
                "fields": ("organization", "project"),
                "description": "Leave both empty for a provider every organization "
                "uses; a project implies its organization.",
            },
        ),
        ("API key", {"fields": ("api_key",)}),
    )
    change_readonly_fields = (
        *("public_id", "organization", "project", "api_key_hint"),
        *("created_at", "updated_at"),
    )

    def get_fieldsets(self, request, obj=None):
        return super().get_fieldsets(request, obj) if obj else self.add_fieldsets

    def get_readonly_fields(self, request, obj=None):
        return self.change_readonly_fields if obj else ()

    def save_form(self, request, form, change):
        return form.provider  # saved by the form's service call

    def save_model(self, request, obj, form, change):
        pass

    def save_related(self, request, form, formsets, change):
        for formset in formsets:  # read-only inlines: nothing to save
            self.save_formset(request, form, formset, change=change)

    def get_deleted_objects(self, objs, request):
        # A provider's models go with it, although nobody may delete one alone.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(
            objs, request
        )
        perms_needed.discard(str(ProviderModel._meta.verbose_name))
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        provider_delete(provider=obj)

    def delete_queryset(self, request, queryset):
        for provider in queryset:
            provider_delete(provider=provider)

    @admin.action(description="Sync models of the selected providers")
    def sync_models(self, request, queryset):
        for provider in queryset.order_by("created_at", "pk"):
            try:
                counts = provider_models_sync(provider=provider)
            except SYNC_ERRORS as error:
                message = getattr(error, "message", None) or str(error)
                self.message_user(
                    request, f"{provider}: not synced: {message}", messages.ERROR
                )
                continue
            self.message_user(
                request,
                f"{provider}: {counts.created} added, {counts.updated} updated, "
                f"{counts.deactivated} deactivated.",
            )

    @admin.action(description="Check health of the selected providers")
    def check_health(self, request, queryset):
        for provider, ok in providers_check(providers=queryset.order_by("created_at")):
            if ok:
                self.message_user(request, f"{provider}: ok.", messages.SUCCESS)
            else:
                self.message_user(request, f"{provider}: unreachable.", messages.ERROR)


@admin.register(ProviderModel)
class ProviderModelAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Models mirror their upstream: a sync adds, updates and deactivates them."""

    list_display = (
        *("public_id", "model_id", "provider", "active"),
        *("context_length", "updated_at"),
    )
    list_filter = ("active", "provider")
    list_select_related = ("provider",)
    search_fields = ("model_id", "public_id", "provider__public_id", "provider__name")
    ordering = ("provider", "model_id")


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The usage ledger, written by the gateway only."""

    list_display = (
        *("created_at", "request_id", "organization", "project", "model"),
        *("provider", "endpoint", "status", "http_status", "stream"),
        *("prompt_tokens", "completion_tokens", "duration_ms", "client_disconnected"),
    )
    list_filter = (
        *("status", "stream", "client_disconnected", "organization", "project"),
        *("model", "provider"),
    )
    list_select_related = ("organization", "project", "provider")
    search_fields = (
        "request_id",
        "model",
        "organization__public_id",
        "project__public_id",
    )
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    # Counting a large ledger on every page costs more than the page itself.
    show_full_result_count = False
