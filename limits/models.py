"""Rate limits of an organization, a project or an API key, for one model or all.

A row sets up to four limits on one scope; an unset field (null) is no limit, 0 blocks
the scope. Every row that applies to a request is enforced, tightest first
(limits.admission).
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from orgs.models import ApiKey, ApiKeyKind, Organization, Project

# The limits a row holds: its field, the window in seconds (None: concurrency), what it
# counts, and OpenAI's name of it in 429 messages.
LIMIT_FIELDS = (
    "max_requests_per_1_minute",
    "max_tokens_per_1_minute",
    "max_requests_per_1_day",
    "max_concurrent_requests",
)


class RateLimitScope(models.TextChoices):
    ORGANIZATION = "organization", "Organization"
    PROJECT = "project", "Project"
    API_KEY = "api_key", "API key"
    USER = "user", "Each login user of the organization"


class TenantScoped(models.Model):
    """A row held by an organization, one of its projects, or one project key of it
    (the narrowest one set): the scope of a rate limit or a budget."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="%(class)ss"
    )
    project = models.ForeignKey(
        Project,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="%(class)ss",
        help_text="Leave empty for the whole organization.",
    )
    api_key = models.ForeignKey(
        ApiKey,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="%(class)ss",
        limit_choices_to={"kind": ApiKeyKind.PROJECT},
        help_text="A project key: this key only.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    @property
    def scope(self) -> str:
        if self.api_key_id is not None:
            return RateLimitScope.API_KEY
        if self.project_id is not None:
            return RateLimitScope.PROJECT
        return RateLimitScope.ORGANIZATION

    def clean(self) -> None:
        """A key's project and organization, a project's organization, are its own."""
        key, project = self.api_key, self.project
        if key is not None:
            if key.kind != ApiKeyKind.PROJECT:
                plural = self._meta.verbose_name_plural
                raise ValidationError({"api_key": f"Only project keys have {plural}."})
            self.project_id = key.project_id
            self.organization_id = key.organization_id
        elif project is not None:
            self.organization_id = project.organization_id


class RateLimit(TenantScoped):
    model = models.CharField(
        max_length=200, blank=True, help_text="Leave empty for every model."
    )
    per_user = models.BooleanField(
        default=False,
        help_text="Each login user of the organization gets these limits of their own "
        "(requests with a login token, as Jan's apps and guests make; keys have theirs).",
    )
    max_requests_per_1_minute = models.PositiveIntegerField(null=True, blank=True)
    max_tokens_per_1_minute = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Input and output tokens."
    )
    max_requests_per_1_day = models.PositiveIntegerField(null=True, blank=True)
    max_concurrent_requests = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests in flight (streams included)."
    )

    class Meta:
        ordering = ["organization_id", "project_id", "api_key_id", "model"]
        constraints = [
            models.CheckConstraint(
                condition=Q(api_key__isnull=True) | Q(project__isnull=False),
                name="rate_limit_key_has_its_project",
            ),
            models.CheckConstraint(
                condition=Q(per_user=False)
                | Q(project__isnull=True, api_key__isnull=True),
                name="rate_limit_per_user_is_organization_wide",
            ),
            models.UniqueConstraint(
                fields=["organization", "model", "per_user"],
                condition=Q(project__isnull=True, api_key__isnull=True),
                name="rate_limit_one_per_organization_model",
            ),
            models.UniqueConstraint(
                fields=["project", "model"],
                condition=Q(project__isnull=False, api_key__isnull=True),
                name="rate_limit_one_per_project_model",
            ),
            models.UniqueConstraint(
                fields=["api_key", "model"],
                condition=Q(api_key__isnull=False),
                name="rate_limit_one_per_key_model",
            ),
        ]

    def __str__(self) -> str:
        target = self.api_key or self.project or self.organization
        return f"{self.scope} {target}: {self.model or 'every model'}"

    @property
    def scope(self) -> str:
        if self.per_user and self.api_key_id is None and self.project_id is None:
            return RateLimitScope.USER
        return super().scope


class Budget(TenantScoped):
    """A monthly spending cap (and alert threshold) of an organization, a project or a
    project API key, in USD, spent at the prices of the usage app (usage.ModelPrice):
    a model without a price costs nothing."""

    monthly_limit_usd = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Hard cap per calendar month (UTC): requests past it get 429 "
        "insufficient_quota. Empty: no cap.",
    )
    alert_threshold_usd = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="The organization's owners get one e-mail a month when spend "
        "reaches it. Empty: no alert.",
    )
    alerted_month = models.DateField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(api_key__isnull=True) | Q(project__isnull=False),
                name="budget_key_has_its_project",
            ),
            models.CheckConstraint(
                condition=Q(monthly_limit_usd__gte=0)
                | Q(monthly_limit_usd__isnull=True),
                name="budget_limit_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(alert_threshold_usd__gte=0)
                | Q(alert_threshold_usd__isnull=True),
                name="budget_threshold_not_negative",
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(project__isnull=True, api_key__isnull=True),
                name="budget_one_per_organization",
            ),
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(project__isnull=False, api_key__isnull=True),
                name="budget_one_per_project",
            ),
            models.UniqueConstraint(
                fields=["api_key"],
                condition=Q(api_key__isnull=False),
                name="budget_one_per_key",
            ),
        ]

    def __str__(self) -> str:
        target = self.api_key or self.project or self.organization
        return f"budget of {self.scope} {target}"
