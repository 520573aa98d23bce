"""What keeps the credential cache (janserver.auth_cache) true: model signals.

Connected once the apps are loaded (janserver.apps).
"""

from typing import Any

from django.db.models.signals import post_delete, post_save

from accounts.models import User
from janserver import auth_cache
from orgs.models import ApiKey, OrganizationMember, ProjectMember


def _on_key_change(sender: Any, instance: Any, **kwargs: Any) -> None:
    auth_cache.invalidate("key", instance.key_hash)


def _on_user_change(sender: Any, instance: Any, **kwargs: Any) -> None:
    auth_cache.invalidate("user", instance.public_id)


def _on_membership_change(sender: Any, instance: Any, **kwargs: Any) -> None:
    # A user principal carries its memberships (which models it may use).
    public_id = (
        User.objects.filter(pk=instance.user_id)
        .values_list("public_id", flat=True)
        .first()
    )
    if public_id:
        auth_cache.invalidate("user", public_id)


def connect_model_signals() -> None:
    """Invalidate on every save or delete of an API key or user.

    Signals, not services, because cache coherence must follow every write path: admin
    edits, cascades from a deleted project or organization, and services alike.
    """
    for name, signal in (("save", post_save), ("delete", post_delete)):
        signal.connect(_on_key_change, sender=ApiKey, dispatch_uid=f"auth-key-{name}")
        signal.connect(_on_user_change, sender=User, dispatch_uid=f"auth-user-{name}")
        for model in (OrganizationMember, ProjectMember):
            signal.connect(
                _on_membership_change,
                sender=model,
                dispatch_uid=f"auth-member-{model.__name__}-{name}",
            )
