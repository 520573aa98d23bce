"""Upstream model providers, the models they serve, and the usage ledger."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from janserver.ids import new_provider_id, new_provider_model_id


class ProviderVendor(models.TextChoices):
    VLLM = "vllm", "vLLM"
    LLAMA_CPP = "llama.cpp", "llama.cpp"
    OPENAI = "openai", "OpenAI-compatible"


class Provider(models.Model):
    """An OpenAI-compatible upstream (a vLLM server), shared or scoped to an org or project."""

    public_id = models.CharField(
        max_length=40, unique=True, editable=False, default=new_provider_id
    )
    name = models.CharField(max_length=100)
    vendor = models.CharField(
        max_length=16, choices=ProviderVendor.choices, default=ProviderVendor.VLLM
    )
    base_url = models.URLField(max_length=500, help_text="OpenAI base URL, with /v1.")
    api_key_encrypted = models.TextField(blank=True, editable=False)
    api_key_hint = models.CharField(max_length=16, blank=True, editable=False)
    active = models.BooleanField(default=True)
    weight = models.PositiveIntegerField(default=1)
    organization = models.ForeignKey(
        "orgs.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="providers",
    )
    project = models.ForeignKey(
        "orgs.Project",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="providers",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(project__isnull=True)
                | models.Q(organization__isnull=False),
                name="inference_provider_project_has_org",
            ),
            models.CheckConstraint(
                condition=models.Q(weight__gte=1), name="inference_provider_weight_min"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    vendor__in=[choice.value for choice in ProviderVendor]
                ),
                name="inference_provider_vendor_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "project", "active"],
                name="inference_provider_scope_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    @property
    def scope(self) -> str:
        if self.project_id:
            return "project"
        return "organization" if self.organization_id else "global"


class ProviderModel(models.Model):
    """A model id an upstream serves (from its GET /models)."""

    public_id = models.CharField(
        max_length=40, unique=True, editable=False, default=new_provider_model_id
    )
    provider = models.ForeignKey(
        Provider, on_delete=models.CASCADE, related_name="models"
    )
    model_id = models.CharField(max_length=200)
    display_name = models.CharField(max_length=200, blank=True)
    context_length = models.PositiveIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "model_id"], name="inference_model_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["model_id", "active"], name="inference_model_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} @ {self.provider.name}"


class UsageStatus(models.TextChoices):
    OK = "ok", "OK"
    CLIENT_ERROR = "client_error", "Client error"
    UPSTREAM_ERROR = "upstream_error", "Upstream error"
    DISCONNECTED = "disconnected", "Client disconnected"
    # Refused with 429 at the admit step by the caller's own limits (never an
    # upstream's 429, which is an upstream error); counted as client errors too.
    RATE_LIMITED = "rate_limited", "Refused: rate limit"
    OVER_BUDGET = "over_budget", "Refused: budget"


class UsageRecord(models.Model):
    """One inference request: who, which model and provider, tokens and timings."""

    request_id = models.CharField(max_length=40, db_index=True)
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
    provider = models.ForeignKey(
        Provider, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    endpoint = models.CharField(max_length=40)
    model = models.CharField(max_length=200)
    stream = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=UsageStatus.choices)
    http_status = models.PositiveSmallIntegerField(default=200)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    time_to_first_token_ms = models.FloatField(null=True)
    duration_ms = models.FloatField(default=0)
    client_disconnected = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["organization", "created_at"], name="inference_usage_org_idx"
            ),
            models.Index(
                fields=["project", "created_at"], name="inference_usage_project_idx"
            ),
            models.Index(fields=["created_at"], name="inference_usage_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.model} {self.status}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
