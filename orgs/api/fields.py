"""Serializer fields of the organization admin API: roles."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orgs.models import OrganizationRole, ProjectRole


@extend_schema_field(
    {"type": "string", "description": "`owner`, `reader` or `member` (no admin reads)"}
)
class OrganizationRoleField(serializers.ChoiceField):
    """An organization role, described as OpenAI does (two `role` enums would clash)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=OrganizationRole.choices, **kwargs)


@extend_schema_field({"type": "string", "description": "`owner` or `member`"})
class ProjectRoleField(serializers.ChoiceField):
    """A project role, described inline."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=ProjectRole.choices, **kwargs)
