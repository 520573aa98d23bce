"""The custom user model."""

import pytest
from django.db import IntegrityError, transaction

from accounts.models import User
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_emails_are_unique(user):
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(email=user.email)


def test_emails_are_stored_lowercase_so_uniqueness_ignores_case(user):
    """The database refuses a mixed-case email, so 'A@x' and 'a@x' cannot both exist."""
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=user.pk).update(email="Mixed@Example.com")


def test_create_user_normalizes_the_email(db):
    created = User.objects.create_user(
        email="  Someone@Example.COM ", password="pw-123456789"
    )
    assert created.email == "someone@example.com"
    assert created.public_id.startswith("user_")
    assert created.check_password("pw-123456789")


def test_create_superuser_can_use_the_admin(db):
    admin = User.objects.create_superuser(
        email="root@example.com", password="pw-123456789"
    )
    assert admin.is_staff
    assert admin.is_superuser
