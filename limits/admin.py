"""Rate limits and budgets in the admin: saved through limits.services (validated,
broadcast to every process)."""

from django.contrib import admin

from limits.models import LIMIT_FIELDS, Budget, RateLimit
from limits.services import (
    budget_delete,
    budget_set,
    rate_limit_delete,
    rate_limit_set,
)


@admin.register(RateLimit)
class RateLimitAdmin(admin.ModelAdmin):
    list_display = ("__str__", "model", *LIMIT_FIELDS, "updated_at")
    list_filter = ("organization", "per_user")
    search_fields = (
        "model",
        "organization__name",
        "project__name",
        "project__public_id",
        "api_key__public_id",
    )
    autocomplete_fields = ()
    raw_id_fields = ("project", "api_key")
    fields = ("organization", "project", "api_key", "per_user", "model", *LIMIT_FIELDS)

    def save_model(self, request, obj, form, change):
        saved = rate_limit_set(
            organization=obj.organization,
            project=obj.project,
            api_key=obj.api_key,
            model=obj.model,
            per_user=obj.per_user,
            limits={name: getattr(obj, name) for name in LIMIT_FIELDS},
        )
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        rate_limit_delete(rate_limit=obj)

    def delete_queryset(self, request, queryset):
        for row in queryset:
            rate_limit_delete(rate_limit=row)


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "monthly_limit_usd",
        "alert_threshold_usd",
        "alerted_month",
        "updated_at",
    )
    list_filter = ("organization",)
    search_fields = ("organization__name", "project__name", "project__public_id")
    raw_id_fields = ("project", "api_key")
    fields = (
        "organization",
        "project",
        "api_key",
        "monthly_limit_usd",
        "alert_threshold_usd",
        "alerted_month",
    )
    readonly_fields = ("alerted_month",)

    def save_model(self, request, obj, form, change):
        saved = budget_set(
            organization=obj.organization,
            project=obj.project,
            api_key=obj.api_key,
            amounts={
                "monthly_limit_usd": obj.monthly_limit_usd,
                "alert_threshold_usd": obj.alert_threshold_usd,
            },
        )
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        budget_delete(budget=obj)

    def delete_queryset(self, request, queryset):
        for row in queryset:
            budget_delete(budget=row)
