"""Who is calling: the Principal a credential resolves to, and the kinds of caller.

A leaf module (nothing of the project imported), so that any layer may name a
Principal without importing how credentials are checked (janserver.auth).
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class PrincipalKind(StrEnum):
    USER = "user"  # a login access token
    ADMIN_KEY = "admin_key"  # sk-admin_…: organization admin routes only
    PROJECT_KEY = "project_key"  # sk-project_…: inference, models, conversations


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (JWT), or an admin or project API key and its owner."""

    kind: PrincipalKind
    # The owner's (or user's) fields, in janserver.auth.USER_FIELDS order.
    user_values: tuple[Any, ...]
    organization_id: int | None = None
    organization_public_id: str | None = None
    project_id: int | None = None
    project_public_id: str | None = None
    api_key_id: int | None = None
    api_key_public_id: str | None = None
    expires_at: datetime | None = None
    # For login users: the organizations and projects they belong to.
    member_organization_ids: tuple[int, ...] = ()
    member_project_ids: tuple[int, ...] = ()

    @property
    def user_id(self) -> int:
        return self.user_values[0]

    @property
    def user_public_id(self) -> str:
        return self.user_values[1]

    @property
    def scopes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The organization and project ids whose resources (models) serve this caller."""
        if self.organization_id is not None:
            projects = (self.project_id,) if self.project_id else ()
            return (self.organization_id,), projects
        return self.member_organization_ids, self.member_project_ids

    @property
    def is_api_key(self) -> bool:
        return self.api_key_id is not None
