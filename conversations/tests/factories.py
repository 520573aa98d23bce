"""Factories for workspaces, conversations and items."""

import factory

from accounts.tests.factories import UserFactory
from conversations.models import Conversation, Item, ItemType, Response, Workspace
from orgs.models import ProjectMember
from orgs.tests.factories import ProjectFactory


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace
        skip_postgeneration_save = True

    owner = factory.SubFactory(UserFactory)
    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Workspace {n}")

    @factory.post_generation
    def owner_membership(
        self, create: bool, extracted: object, **kwargs: object
    ) -> None:
        """Owners belong to their object's project, as the services make them."""
        if create:
            ProjectMember.objects.get_or_create(project=self.project, user=self.owner)


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation
        skip_postgeneration_save = True

    owner = factory.SubFactory(UserFactory)
    project = factory.SubFactory(ProjectFactory)
    title = factory.Sequence(lambda n: f"Chat {n}")

    @factory.post_generation
    def owner_membership(
        self, create: bool, extracted: object, **kwargs: object
    ) -> None:
        """Owners belong to their object's project, as the services make them."""
        if create:
            ProjectMember.objects.get_or_create(project=self.project, user=self.owner)


class ItemFactory(factory.django.DjangoModelFactory):
    """A user message; give `position` (the services assign it in real use)."""

    class Meta:
        model = Item

    conversation = factory.SubFactory(ConversationFactory)
    position = factory.Sequence(lambda n: n + 1)
    type = ItemType.MESSAGE
    role = "user"
    content = factory.LazyFunction(lambda: [{"type": "input_text", "text": "hi"}])


class ResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Response

    owner = factory.SubFactory(UserFactory)
    project = factory.SubFactory(ProjectFactory)
    model = "jan-v1-4b"
