"""The admin's usage dashboard: the form choosing an organization and a window, and the
page's context gathered from the selectors of usage, limits and inference."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils import timezone

from inference import provider_health, routing
from inference.models import Provider
from inference.selectors import provider_list_for_organization
from inference.services import providers_check
from limits.selectors import budget_status_list
from orgs.models import Organization
from usage.models import HOUR, MINUTE
from usage.selectors.dashboard import (
    MAX_DAYS,
    Dashboard,
    Figures,
    Span,
    span_days,
    span_last,
    usage_dashboard,
    usage_series,
)

logger = logging.getLogger("janserver.usage")

# The windows offered, by their value in the query string, and their length.
WINDOWS = {
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
}
DATES = "dates"
DEFAULT_WINDOW = "24h"


class WindowForm(forms.Form):
    """A window: one of WINDOWS, or UTC dates (both included)."""

    window = forms.ChoiceField(
        choices=[
            *((name, label) for name, (label, _) in WINDOWS.items()),
            (DATES, "Dates (UTC)"),
        ],
        required=False,
    )
    since = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        window = data.get("window") or DEFAULT_WINDOW
        if data.get("since") or data.get("until"):
            window = DATES
        data["window"] = window
        if window != DATES:
            return data
        since, until = data.get("since"), data.get("until")
        if since is None or until is None:
            raise forms.ValidationError(
                "Give both dates (since and until) for a window of dates."
            )
        if until < since:
            self.add_error("until", "Until must be on or after since.")
        elif (until - since).days + 1 > MAX_DAYS:
            self.add_error("until", f"A window is at most {MAX_DAYS} days.")
        return data

    def span(self, now: datetime) -> Span:
        """The window chosen; call on a valid form."""
        data = self.cleaned_data
        if data["window"] == DATES:
            return span_days(since=data["since"], until=data["until"])
        seconds = int(WINDOWS[data["window"]][1].total_seconds())
        return span_last(seconds=seconds, now=now)


class DashboardForm(WindowForm):
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.order_by("name", "pk"),
        to_field_name="public_id",
        empty_label=None,
    )


def dashboard_form(query: QueryDict) -> DashboardForm:
    """Bind the dashboard's form to a query string; an organization left out is the
    default one (or else the first by name), a window left out the last 24 hours."""
    data = query.copy()
    if not (data.get("window") or data.get("since") or data.get("until")):
        data["window"] = DEFAULT_WINDOW
    if not data.get("organization"):
        organization = (
            Organization.objects.order_by("-is_default", "name", "pk")
            .only("public_id")
            .first()
        )
        if organization is not None:
            data["organization"] = organization.public_id
    return DashboardForm(data)


@dataclass
class ProviderHealth:
    """A provider, its figures for the organization in the window, whether server
    processes took it out of rotation (how many, the first since when), and a probe's
    answer if asked."""

    provider: Provider
    figures: Figures
    failed_at: datetime | None
    processes: int = 0
    probe: bool | None = None

    @property
    def model_count(self) -> int:
        return sum(1 for model in self.provider.models.all() if model.active)


def dashboard_context(
    *, organization: Organization, span: Span, probe: bool = False
) -> dict[str, Any]:
    """Return the template context of the dashboard of `organization` over `span`:
    the figures, its budgets, and its providers' health (probed now if `probe`)."""
    dashboard = usage_dashboard(organization=organization, span=span)
    providers = list(provider_list_for_organization(organization=organization))
    by_pk = {provider.pk: provider for provider in providers}
    for named in dashboard.by_model_provider:
        named.obj = by_pk.get(named.ref)
    return {
        "dashboard": dashboard,
        "bucket_format": _bucket_format(span),
        "providers": _health(providers, dashboard, probe),
        "budgets": budget_status_list(organization=organization),
        "probed_at": timezone.now() if probe else None,
    }


def _health(
    providers: list[Provider], dashboard: Dashboard, probe: bool
) -> list[ProviderHealth]:
    try:
        shared = provider_health.shared_unhealthy(p.public_id for p in providers)
    except Exception:  # the cache is down: this process's own view
        logger.warning("Could not read the providers' shared health")
        shared = {}
    own = routing.unhealthy_since()
    for provider in providers:
        since = own.get(provider.pk)
        if since is not None and provider.public_id not in shared:  # not published yet
            shared[provider.public_id] = provider_health.SharedHealth(since, 1)
    answers = dict(providers_check(providers=providers)) if probe else {}
    return [
        ProviderHealth(
            provider,
            dashboard.by_provider.get(provider.pk, Figures()),
            health.failed_at if (health := shared.get(provider.public_id)) else None,
            health.processes if health else 0,
            answers.get(provider),
        )
        for provider in providers
    ]


def object_usage_context(
    *,
    organization_id: int,
    query: QueryDict,
    project_id: int | None = None,
    api_key_id: int | None = None,
) -> dict[str, Any]:
    """Return the context of the usage chart on a project's or an API key's admin
    page: the window from `usage_window` in the query string (default 7d)."""
    window, error = query.get("usage_window") or "7d", None
    if window not in WINDOWS:
        error = f"Unknown window {window!r}: showing the last 7 days."
        window = "7d"
    span = span_last(
        seconds=int(WINDOWS[window][1].total_seconds()), now=timezone.now()
    )
    series = usage_series(
        organization_id=organization_id,
        span=span,
        project_id=project_id,
        api_key_id=api_key_id,
    )
    total = Figures()
    for _, figures in series:
        total.add(figures.sums)
    return {
        "usage_series": series,
        "usage_total": total,
        "usage_window": window,
        "usage_window_error": error,
        "usage_windows": [(name, label) for name, (label, _) in WINDOWS.items()],
        "bucket_format": _bucket_format(span),
    }


def _bucket_format(span: Span) -> str:
    """The date format of a bucket's start in tables (Django's `date` filter)."""
    return {MINUTE: "H:i", HOUR: "m-d H:i"}.get(span.width, "Y-m-d")
