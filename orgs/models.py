"""Tenancy: organizations, their members and projects, invites and API keys."""

from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from janserver.ids import new_invite_id, new_key_id, new_org_id, new_project_id

if TYPE_CHECKING:
    from accounts.models import User


class OrganizationRole(models.TextChoices):
    """What a member may do in an organization, from most to least.

    Owners manage it; readers (granted by an owner or an invite) read its admin routes;
    members belong to it only to hold projects (everyone who signs up is one in the
    default organization) and see nothing of it beyond their own projects.
    """

    OWNER = "owner", "Owner"
    READER = "reader", "Reader"
    MEMBER = "member", "Member"

    @property
    def rank(self) -> int:
        """Higher for more rights: owner 2, reader 1, member 0."""
        return _ORGANIZATION_ROLE_RANKS[self]

    @property
    def reads_organization(self) -> bool:
        """Whether this role may read the organization's admin routes."""
        return self is not OrganizationRole.MEMBER


_ORGANIZATION_ROLE_RANKS = {
    OrganizationRole.OWNER: 2,
    OrganizationRole.READER: 1,
    OrganizationRole.MEMBER: 0,
}


class ProjectRole(models.TextChoices):
    OWNER = "owner", "Owner"
    MEMBER = "member", "Member"


def _choices_check(
    field: str, choices: type[models.TextChoices], name: str
) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__in": choices.values}), name=name
    )


class Organization(models.Model):
    public_id = models.CharField(
        max_length=40, unique=True, editable=False, default=new_org_id
    )
    name = models.CharField(max_length=200)
    is_default = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    members: "models.ManyToManyField[User, OrganizationMember]" = (
        models.ManyToManyField(
            settings.AUTH_USER_MODEL,
            through="OrganizationMember",
            related_name="organizations",
        )
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="orgs_one_default_organization",
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="orgs_org_created_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"


class OrganizationMember(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="organization_memberships",
    )
    role = models.CharField(
        max_length=16, choices=OrganizationRole.choices, default=OrganizationRole.MEMBER
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user"], name="orgs_member_unique"
            ),
            _choices_check("role", OrganizationRole, "orgs_member_role_valid"),
        ]
        indexes = [
            models.Index(
                fields=["organization", "created_at"],
                name="orgs_member_org_created_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class ProjectStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


class Project(models.Model):
    public_id = models.CharField(
        max_length=40, unique=True, editable=False, default=new_project_id
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="projects"
    )
    name = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16, choices=ProjectStatus.choices, default=ProjectStatus.ACTIVE
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    members: "models.ManyToManyField[User, ProjectMember]" = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="ProjectMember", related_name="projects"
    )

    class Meta:
        constraints = [
            _choices_check("status", ProjectStatus, "orgs_project_status_valid"),
            models.CheckConstraint(
                condition=(
                    models.Q(status=ProjectStatus.ARCHIVED, archived_at__isnull=False)
                    | models.Q(status=ProjectStatus.ACTIVE, archived_at__isnull=True)
                ),
                name="orgs_project_archived_at_matches_status",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "status", "created_at"],
                name="orgs_project_org_list_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    @property
    def is_archived(self) -> bool:
        return self.status == ProjectStatus.ARCHIVED


class ProjectMember(models.Model):
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="project_memberships",
    )
    role = models.CharField(
        max_length=16, choices=ProjectRole.choices, default=ProjectRole.MEMBER
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "user"], name="orgs_project_member_unique"
            ),
            _choices_check("role", ProjectRole, "orgs_project_member_role_valid"),
        ]
        indexes = [
            models.Index(
                fields=["project", "created_at"], name="orgs_pmember_proj_created_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class InviteStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    EXPIRED = "expired", "Expired"


class Invite(models.Model):
    public_id = models.CharField(
        max_length=40, unique=True, editable=False, default=new_invite_id
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invites"
    )
    email = models.EmailField()
    role = models.CharField(
        max_length=16, choices=OrganizationRole.choices, default=OrganizationRole.READER
    )
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(
        max_length=16, choices=InviteStatus.choices, default=InviteStatus.PENDING
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    invited_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            _choices_check("role", OrganizationRole, "orgs_invite_role_valid"),
            _choices_check("status", InviteStatus, "orgs_invite_status_valid"),
            models.CheckConstraint(
                condition=(
                    models.Q(status=InviteStatus.ACCEPTED, accepted_at__isnull=False)
                    | (
                        ~models.Q(status=InviteStatus.ACCEPTED)
                        & models.Q(accepted_at__isnull=True)
                    )
                ),
                name="orgs_invite_accepted_at_matches_status",
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("invited_at")),
                name="orgs_invite_expires_after_invited",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "invited_at"], name="orgs_invite_org_list_idx"
            ),
            models.Index(
                fields=["organization", "email"], name="orgs_invite_org_email_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization} ({self.status})"

    @property
    def is_expired(self) -> bool:
        return self.status == InviteStatus.EXPIRED or (
            self.status == InviteStatus.PENDING and self.expires_at <= timezone.now()
        )


class InviteProject(models.Model):
    invite = models.ForeignKey(
        Invite, on_delete=models.CASCADE, related_name="projects"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(
        max_length=16, choices=ProjectRole.choices, default=ProjectRole.MEMBER
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["invite", "project"], name="orgs_invite_project_unique"
            ),
            _choices_check("role", ProjectRole, "orgs_invite_project_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.project} ({self.role})"

    def clean(self) -> None:
        if (
            self.project_id
            and self.invite_id
            and self.project.organization_id != self.invite.organization_id
        ):
            raise ValidationError(
                {"project": "The project must belong to the invite's organization."}
            )


class ApiKeyKind(models.TextChoices):
    ADMIN = "admin", "Admin"
    PROJECT = "project", "Project"


class ApiKey(models.Model):
    public_id = models.CharField(
        max_length=40, unique=True, editable=False, default=new_key_id
    )
    kind = models.CharField(max_length=16, choices=ApiKeyKind.choices)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    project = models.ForeignKey(
        Project,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_keys",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=500, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=16, editable=False)
    enabled = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "API key"
        constraints = [
            _choices_check("kind", ApiKeyKind, "orgs_apikey_kind_valid"),
            models.CheckConstraint(
                condition=(
                    models.Q(kind=ApiKeyKind.PROJECT, project__isnull=False)
                    | models.Q(kind=ApiKeyKind.ADMIN, project__isnull=True)
                ),
                name="orgs_apikey_project_matches_kind",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "kind", "created_at"],
                name="orgs_apikey_org_list_idx",
            ),
            models.Index(
                fields=["project", "created_at"], name="orgs_apikey_project_list_idx"
            ),
            models.Index(fields=["owner", "created_at"], name="orgs_apikey_owner_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.kind + ' key'} ({self.public_id})"

    def clean(self) -> None:
        if self.kind == ApiKeyKind.PROJECT and not self.project_id:
            raise ValidationError({"project": "A project key needs a project."})
        if self.kind == ApiKeyKind.ADMIN and self.project_id:
            raise ValidationError(
                {"project": "An admin key belongs to the organization, not a project."}
            )
        if (
            self.project is not None
            and self.organization_id
            and self.project.organization_id != self.organization_id
        ):
            raise ValidationError(
                {"project": "The project must belong to the key's organization."}
            )

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_usable(self, now: datetime | None = None) -> bool:
        """Return whether the key may authenticate now (enabled, not revoked, not expired)."""
        now = now or timezone.now()
        return (
            self.enabled
            and self.revoked_at is None
            and (self.expires_at is None or self.expires_at > now)
        )
