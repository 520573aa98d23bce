"""Factories for users."""

import factory

from accounts.models import User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Sequence(lambda n: f"User {n}")
    password = factory.django.Password("correct horse battery staple")


class SuperUserFactory(UserFactory):
    is_staff = True
    is_superuser = True
