"""The user model: email is the login, public ids are `user_…`."""

from typing import Any, ClassVar

from allauth.account import models as allauth_account_models
from allauth.socialaccount import models as allauth_social_models
from django.contrib.auth.models import (
    AbstractBaseUser,
    BaseUserManager,
    PermissionsMixin,
)
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from janserver.ids import new_session_id, new_user_id


def normalize_email(email: str) -> str:
    """Return the canonical (trimmed, lowercase) form an email is stored in."""
    return (email or "").strip().lower()


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields: Any) -> "User":
        email = normalize_email(email)
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=email, **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(
        self, email: str, password: str | None = None, **fields: Any
    ) -> "User":
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(
        self, email: str, password: str | None = None, **fields: Any
    ) -> "User":
        fields["is_staff"] = True
        fields["is_superuser"] = True
        return self._create(email, password, **fields)

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email=normalize_email(username or ""))


class User(AbstractBaseUser, PermissionsMixin):
    public_id = models.CharField(
        max_length=40, unique=True, editable=False, default=new_user_id
    )
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_guest = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="Can log in to the admin site."
    )
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")),
                name="accounts_user_email_lowercase",
                violation_error_message="Email addresses are stored in lowercase.",
            ),
        ]
        indexes = [
            models.Index(fields=["date_joined"], name="accounts_user_joined_idx")
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)


class LoginSession(models.Model):
    """One login: the chain of refresh tokens that rotation issues, revoked as a whole.

    Only the id of the newest refresh token (`current_jti`) is valid; presenting an
    older one means a token was stolen or replayed, and revokes the session.
    """

    family = models.CharField(max_length=64, unique=True, default=new_session_id)
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="login_sessions"
    )
    current_jti = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    rotated_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["user", "revoked_at"], name="accounts_session_user_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.family} ({self.user})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


# django-allauth's models, shown in the admin's one "Accounts" section (accounts/admin.py):
# proxies, so that they keep allauth's tables.
class EmailAddress(allauth_account_models.EmailAddress):
    class Meta:
        proxy = True
        verbose_name = "email address"
        verbose_name_plural = "email addresses"


class SocialApp(allauth_social_models.SocialApp):
    class Meta:
        proxy = True
        verbose_name = "identity provider (social application)"
        verbose_name_plural = "identity providers (social applications)"


class SocialAccount(allauth_social_models.SocialAccount):
    class Meta:
        proxy = True
        verbose_name = "linked identity (social account)"
        verbose_name_plural = "linked identities (social accounts)"
