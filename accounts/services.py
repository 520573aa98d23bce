"""User writes: registration and the start-up bootstrap of organization admins."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from accounts.models import User, normalize_email
from janserver.errors import InvalidRequest
from orgs.models import Organization
from orgs.services import (
    organization_default_ensure,
    organization_owners_ensure,
    project_personal_ensure,
)


@transaction.atomic
def user_register(*, email: str, name: str = "", is_guest: bool = False) -> User:
    """Create a user with a "Default Project" (as owner) in the default organization."""
    email = normalize_email(email)
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidRequest(
            f"{email!r} is not a valid email address.", param="email"
        ) from None
    if User.objects.filter(email=email).exists():
        raise InvalidRequest(
            f"A user with email {email} already exists.", param="email", code="conflict"
        )
    user = User.objects.create_user(email=email, name=name, is_guest=is_guest)
    project_personal_ensure(user=user)
    return user


def user_get_or_register(*, email: str) -> tuple[User, bool]:
    """Return the user with this email, registering one if needed; the flag says which."""
    user = User.objects.filter(email=normalize_email(email)).first()
    if user is not None:
        return user, False
    return user_register(email=email), True


@transaction.atomic
def admins_bootstrap(*, emails: list[str]) -> tuple[Organization, list[User]]:
    """Ensure the default organization exists and `emails` are its owners (idempotent)."""
    organization = organization_default_ensure()
    users = [user_get_or_register(email=email)[0] for email in emails]
    organization_owners_ensure(organization=organization, users=users)
    return organization, users
