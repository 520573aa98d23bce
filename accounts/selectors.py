"""User reads."""

from accounts.models import User, normalize_email
from janserver.errors import NotFound


def user_get(*, email: str) -> User:
    """Return the user with this email (any case); raise NotFound."""
    user = User.objects.filter(email=normalize_email(email)).first()
    if user is None:
        raise NotFound(f"No user with email {normalize_email(email)!r}.", param="email")
    return user
