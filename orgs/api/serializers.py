"""Organization admin API shapes: OpenAI's objects, Jan's request fields."""

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from janserver.api.fields import (
    ConstantField,
    FutureTimestampField,
    UnixTimestampField,
    unix,
)
from orgs.api.fields import OrganizationRoleField, ProjectRoleField
from orgs.models import (
    ApiKey,
    Invite,
    OrganizationRole,
    ProjectRole,
)
from orgs.selectors import organization_role_get, project_role_get

NAME_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 500
ID_MAX_LENGTH = 64
MAX_INVITE_PROJECTS = 100
MAX_KEY_LIFETIME_SECONDS = 10 * 365 * 24 * 3600


# Output objects.


class ProjectSerializer(serializers.Serializer):
    object = ConstantField("organization.project")
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    created_at = UnixTimestampField()
    archived_at = UnixTimestampField()
    status = serializers.CharField()


class OrganizationUserSerializer(serializers.Serializer):
    object = ConstantField("organization.user")
    id = serializers.CharField(source="user.public_id")
    name = serializers.CharField(source="user.name")
    email = serializers.CharField(source="user.email")
    role = serializers.CharField()
    added_at = UnixTimestampField(source="created_at")


class ProjectUserSerializer(OrganizationUserSerializer):
    object = ConstantField("organization.project.user")


class AdminApiKeySerializer(serializers.Serializer):
    object = ConstantField("organization.admin_api_key")
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    redacted_value = serializers.CharField(source="hint")
    created_at = UnixTimestampField()
    expires_at = UnixTimestampField()
    last_used_at = UnixTimestampField()
    owner = serializers.SerializerMethodField()

    def get_owner(self, api_key: ApiKey) -> dict[str, Any]:
        # Admin keys belong to owners; a demoted owner's admin keys are revoked.
        role = getattr(api_key, "owner_org_role", None) or OrganizationRole.OWNER
        return {
            "type": "user",
            "object": "organization.user",
            "id": api_key.owner.public_id,
            "name": api_key.owner.name,
            "created_at": unix(api_key.owner.date_joined),
            "role": role,
        }


def _project_key_owner_role(api_key: ApiKey) -> str | None:
    """The owner's effective project role: their own, or owner as an org owner."""
    if hasattr(api_key, "owner_project_role"):
        project_role = api_key.owner_project_role
        org_role = getattr(api_key, "owner_org_role", None)
    elif api_key.project is None:
        return None
    else:  # a key fresh from a service, not from the annotated selectors
        project_role = project_role_get(project=api_key.project, user=api_key.owner)
        org_role = organization_role_get(
            organization=api_key.organization, user=api_key.owner
        )
    if project_role is None and org_role == OrganizationRole.OWNER:
        return ProjectRole.OWNER
    return project_role


class ProjectApiKeySerializer(serializers.Serializer):
    object = ConstantField("organization.project.api_key")
    id = serializers.CharField(source="public_id")
    name = serializers.SerializerMethodField()
    description = serializers.CharField()
    redacted_value = serializers.CharField(source="hint")
    created_at = UnixTimestampField()
    expires_at = UnixTimestampField()
    last_used_at = UnixTimestampField()
    owner = serializers.SerializerMethodField()
    owner_project_access = serializers.SerializerMethodField()

    def get_name(self, api_key: ApiKey) -> str:
        return api_key.name or api_key.description

    def get_owner(self, api_key: ApiKey) -> dict[str, Any]:
        user = api_key.owner
        return {
            "type": "user",
            "user": {
                "object": "organization.project.user",
                "id": user.public_id,
                "name": user.name,
                "email": user.email,
                "role": _project_key_owner_role(api_key),
                "created_at": unix(user.date_joined),
            },
        }

    def get_owner_project_access(self, api_key: ApiKey) -> str:
        return "active" if _project_key_owner_role(api_key) else "inactive"


class AdminApiKeyCreatedSerializer(AdminApiKeySerializer):
    value = serializers.CharField(help_text="The secret, shown only now.")


class ProjectApiKeyCreatedSerializer(ProjectApiKeySerializer):
    key = serializers.CharField(help_text="The secret, shown only now.")


class InviteSerializer(serializers.Serializer):
    object = ConstantField("organization.invite")
    id = serializers.CharField(source="public_id")
    email = serializers.CharField()
    role = serializers.CharField()
    status = serializers.SerializerMethodField()
    invited_at = UnixTimestampField()
    created_at = UnixTimestampField(source="invited_at")
    expires_at = UnixTimestampField()
    accepted_at = UnixTimestampField()
    projects = serializers.SerializerMethodField()

    def get_status(self, invite: Invite) -> str:
        return "expired" if invite.is_expired else invite.status

    def get_projects(self, invite: Invite) -> list[dict[str, str]]:
        return [
            {"id": link.project.public_id, "role": link.role}
            for link in invite.projects.all()
        ]


# Input.


class NameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=NAME_MAX_LENGTH)


class AdminApiKeyCreateSerializer(NameSerializer):
    expires_in_seconds = serializers.IntegerField(
        min_value=1, max_value=MAX_KEY_LIFETIME_SECONDS, required=False
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        lifetime = attrs.pop("expires_in_seconds", None)
        attrs["expires_at"] = (
            timezone.now() + timedelta(seconds=lifetime) if lifetime else None
        )
        return attrs


class ProjectCreateSerializer(NameSerializer):
    pass


class ProjectUpdateSerializer(NameSerializer):
    pass


class ProjectApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=NAME_MAX_LENGTH, required=False, allow_blank=True
    )
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True
    )
    # Jan's wire name.
    expiresAt = FutureTimestampField(required=False, allow_null=True)  # noqa: N815

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Return api_key_create's keyword arguments."""
        return {
            "name": attrs.get("name", ""),
            "description": attrs.get("description", ""),
            "expires_at": attrs.get("expiresAt"),
        }


class RoleSerializer(serializers.Serializer):
    role = OrganizationRoleField()


class OrganizationUserUpdateSerializer(RoleSerializer):
    pass


class ProjectUserUpdateSerializer(serializers.Serializer):
    role = ProjectRoleField()


class ProjectUserCreateSerializer(ProjectUserUpdateSerializer):
    user_id = serializers.CharField(max_length=ID_MAX_LENGTH)


class InviteProjectSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=ID_MAX_LENGTH)
    role = ProjectRoleField()


class InviteCreateSerializer(RoleSerializer):
    email = serializers.EmailField(max_length=254)
    projects = InviteProjectSerializer(many=True, required=False, default=list)

    def validate_projects(
        self, projects: list[dict[str, str]]
    ) -> list[tuple[str, str]]:
        """Return (project public id, role) pairs, each project once."""
        if len(projects) > MAX_INVITE_PROJECTS:
            raise serializers.ValidationError(
                f"An invite may name at most {MAX_INVITE_PROJECTS} projects."
            )
        pairs = [(project["id"], project["role"]) for project in projects]
        if len({public_id for public_id, _ in pairs}) != len(pairs):
            raise serializers.ValidationError("A project may be listed only once.")
        return pairs


class InviteVerifySerializer(serializers.Serializer):
    code = serializers.CharField(max_length=128)
