"""Prices per model, and the rollups of the usage ledger that reports and spend read."""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from janserver.ids import new_id

# Rollup bucket widths, in seconds, by the name the usage API takes.
MINUTE, HOUR, DAY = 60, 3600, 86400
WIDTHS = {"1m": MINUTE, "1h": HOUR, "1d": DAY}
# A price is USD per million tokens with at most 6 decimals, so that the cost of one
# token is a whole number of picodollars (1e-12 USD): costs are summed exactly, as
# integers, on every database.
PRICE_DECIMALS = 6
PICO_PER_USD = 10**12
# Upper bounds (ms) of the time-to-first-token histogram's buckets; one more bucket
# counts everything slower.
TTFT_BOUNDS_MS = (100, 250, 500, 1000, 2500, 5000, 10000)


def new_price_id() -> str:
    return new_id("price")


class ModelPrice(models.Model):
    """The price of a model, global (organization unset) or one organization's own.

    An organization's price of a model overrides the global one for its usage. Costs
    are computed when usage is recorded, with the price in force then: changing a
    price changes the cost of later usage only.
    """

    public_id = models.CharField(
        max_length=40, unique=True, editable=False, default=new_price_id
    )
    organization = models.ForeignKey(
        "orgs.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="model_prices",
        help_text="Empty: the price for every organization without its own.",
    )
    model = models.CharField(max_length=200, help_text="The model id clients send.")
    input_per_million = models.DecimalField(
        max_digits=12,
        decimal_places=PRICE_DECIMALS,
        validators=[MinValueValidator(Decimal(0))],
        help_text="USD per million input (prompt) tokens.",
    )
    output_per_million = models.DecimalField(
        max_digits=12,
        decimal_places=PRICE_DECIMALS,
        validators=[MinValueValidator(Decimal(0))],
        help_text="USD per million output (completion) tokens.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "model"],
                name="usage_price_org_model_unique",
                condition=models.Q(organization__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["model"],
                name="usage_price_global_model_unique",
                condition=models.Q(organization__isnull=True),
            ),
            models.CheckConstraint(
                condition=models.Q(input_per_million__gte=0)
                & models.Q(output_per_million__gte=0),
                name="usage_price_not_negative",
            ),
        ]
        ordering = ["model"]

    def __str__(self) -> str:
        return f"{self.model}: ${self.input_per_million} / ${self.output_per_million}"

    @property
    def scope(self) -> str:
        return "organization" if self.organization_id else "global"


class UsageRollup(models.Model):
    """The usage of one bucket of time (a minute, an hour or a day, from `width`) for
    one organization, project, API key, user, provider and model.

    Kept up to date in the transaction that writes the usage ledger's rows, so that a
    batch is counted exactly once. Ids are plain integers (0: none) rather than
    foreign keys: a bucket keeps its figures after a key or project is deleted, and
    NULLs would defeat the unique key the updates rely on.
    """

    width = models.PositiveIntegerField()
    bucket_start = models.BigIntegerField(
        help_text="Unix seconds, a multiple of width."
    )
    organization_id = models.BigIntegerField()
    project_id = models.BigIntegerField(default=0)
    api_key_id = models.BigIntegerField(default=0)
    user_id = models.BigIntegerField(default=0)
    provider_id = models.BigIntegerField(default=0)
    model = models.CharField(max_length=200)
    requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    disconnects = models.BigIntegerField(default=0)
    rate_limited = models.BigIntegerField(
        default=0,
        help_text="Requests refused (429) by the rate limits, "
        "counted in requests and errors too.",
    )
    over_budget = models.BigIntegerField(
        default=0,
        help_text="Requests refused (429 insufficient_quota) by the budgets, "
        "counted in requests and errors too.",
    )
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    input_cost = models.BigIntegerField(default=0, help_text="Picodollars.")
    output_cost = models.BigIntegerField(default=0, help_text="Picodollars.")
    ttft_count = models.BigIntegerField(default=0)
    ttft_sum_ms = models.FloatField(default=0)
    ttft_le_100 = models.BigIntegerField(default=0)
    ttft_le_250 = models.BigIntegerField(default=0)
    ttft_le_500 = models.BigIntegerField(default=0)
    ttft_le_1000 = models.BigIntegerField(default=0)
    ttft_le_2500 = models.BigIntegerField(default=0)
    ttft_le_5000 = models.BigIntegerField(default=0)
    ttft_le_10000 = models.BigIntegerField(default=0)
    ttft_slower = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "width",
                    "bucket_start",
                    "organization_id",
                    "project_id",
                    "api_key_id",
                    "user_id",
                    "provider_id",
                    "model",
                ],
                name="usage_rollup_bucket_unique",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization_id", "width", "bucket_start"],
                name="usage_rollup_org_idx",
            ),
            models.Index(
                fields=["width", "bucket_start"], name="usage_rollup_time_idx"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.width}s@{self.bucket_start} org {self.organization_id} {self.model}"
        )

    @property
    def cost(self) -> Decimal:
        return Decimal(self.input_cost + self.output_cost) / PICO_PER_USD


class UsageDashboard(UsageRollup):
    """The admin's usage dashboard (no data of its own: its view reads the rollups).

    A proxy model, so that the dashboard is listed on the admin index with the other
    models and guarded by a permission of its own (view).
    """

    class Meta:
        proxy = True
        verbose_name = "usage dashboard"
        verbose_name_plural = "usage dashboard"
        default_permissions = ("view",)


class SpendScope(models.TextChoices):
    ORGANIZATION = "organization", "Organization"
    PROJECT = "project", "Project"
    API_KEY = "api_key", "API key"


class MonthlySpend(models.Model):
    """What an organization, a project or an API key spent in one calendar month (UTC).

    Kept in the same transaction as the rollups, so that the spend a budget checks is
    one row read by its unique key.
    """

    scope = models.CharField(max_length=16, choices=SpendScope.choices)
    scope_id = models.BigIntegerField()
    month = models.PositiveIntegerField(help_text="yyyymm, UTC.")
    organization_id = models.BigIntegerField()
    requests = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cost = models.BigIntegerField(default=0, help_text="Picodollars.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "scope_id", "month"], name="usage_spend_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(scope__in=[choice.value for choice in SpendScope]),
                name="usage_spend_scope_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization_id", "month"], name="usage_spend_org_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.scope_id} {self.month}: {self.cost_usd}"

    @property
    def cost_usd(self) -> Decimal:
        return Decimal(self.cost) / PICO_PER_USD
