"""Admin for model prices (written through the price service), the monthly spend and
the usage dashboard."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone

from janserver.errors import APIError
from usage.dashboard import dashboard_context, dashboard_form
from usage.models import ModelPrice, MonthlySpend, UsageDashboard
from usage.services import price_delete, price_set


class ModelPriceForm(forms.ModelForm):
    """Saves through price_set, which validates the model id and both amounts."""

    class Meta:
        model = ModelPrice
        fields = ("model", "organization", "input_per_million", "output_per_million")

    def _post_clean(self):
        # No model validation: the service's is complete and its errors name fields.
        if self.errors:
            return
        data = self.cleaned_data
        existing = self.instance.pk is not None
        if existing and (
            data["model"] != self.instance.model
            or data["organization"] != self.instance.organization
        ):
            self.add_error(
                None, "Model and organization cannot change; add a new price instead."
            )
            return
        try:
            self.price = price_set(
                model=data["model"],
                organization=data["organization"],
                input_per_million=data["input_per_million"],
                output_per_million=data["output_per_million"],
            )
        except APIError as error:
            field = error.param if error.param in self.fields else None
            self.add_error(field, error.message)


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    form = ModelPriceForm
    list_display = (
        "model",
        "organization",
        "input_per_million",
        "output_per_million",
        "updated_at",
        "public_id",
    )
    list_filter = (("organization", admin.EmptyFieldListFilter),)
    search_fields = ("public_id", "model", "organization__name")
    list_select_related = ("organization",)
    autocomplete_fields = ("organization",)

    def save_form(self, request, form, change):
        return form.price  # saved by the form's service call

    def save_model(self, request, obj, form, change):
        pass

    def save_related(self, request, form, formsets, change):
        pass  # no relations to save: the service saved the price

    def delete_model(self, request, obj):
        price_delete(price=obj)

    def delete_queryset(self, request, queryset):
        for price in queryset:
            price_delete(price=price)


@admin.register(MonthlySpend)
class MonthlySpendAdmin(admin.ModelAdmin):
    """What each organization, project and key spent per month (from the ledger)."""

    list_display = (
        "month",
        "scope",
        "scope_id",
        "organization_id",
        "requests",
        "cost_usd",
    )
    list_filter = ("scope", "month")
    search_fields = ("=organization_id", "=scope_id")
    ordering = ("-month", "scope", "-cost")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UsageDashboard)
class UsageDashboardAdmin(admin.ModelAdmin):
    """The usage dashboard of an organization (its "list" is the dashboard page)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        probe = request.method == "POST"
        if probe and not request.user.has_perm("inference.change_provider"):
            raise PermissionDenied
        form = dashboard_form(request.GET)
        context = {
            **self.admin_site.each_context(request),
            "title": "Usage dashboard",
            "opts": self.model._meta,
            "form": form,
            "can_probe": request.user.has_perm("inference.change_provider"),
            **(extra_context or {}),
        }
        if not form.is_valid():
            return TemplateResponse(
                request, "admin/usage/dashboard.html", context, status=400
            )
        organization = form.cleaned_data["organization"]
        context.update(
            organization=organization,
            **dashboard_context(
                organization=organization,
                span=form.span(timezone.now()),
                probe=probe,
            ),
        )
        return TemplateResponse(request, "admin/usage/dashboard.html", context)
