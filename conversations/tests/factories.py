"""Factories for workspaces, conversations and items."""

import factory

from accounts.tests.factories import UserFactory
from conversations.models import (
    Conversation,
    Item,
    ItemType,
    Response,
    StoredCompletion,
    Workspace,
)
from orgs.models import ProjectMember
from orgs.tests.factories import ProjectFactory


class _OwnedInProjectFactory(factory.django.DjangoModelFactory):
    """An object with an owner in a project; the owner belongs to the project, as the
    services make them."""

    class Meta:
        abstract = True
        skip_postgeneration_save = True

    owner = factory.SubFactory(UserFactory)
    project = factory.SubFactory(ProjectFactory)

    @factory.post_generation
    def owner_membership(
        self, create: bool, extracted: object, **kwargs: object
    ) -> None:
        if create:
            ProjectMember.objects.get_or_create(project=self.project, user=self.owner)


class WorkspaceFactory(_OwnedInProjectFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")


class ConversationFactory(_OwnedInProjectFactory):
    class Meta:
        model = Conversation

    title = factory.Sequence(lambda n: f"Chat {n}")


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


class StoredCompletionFactory(_OwnedInProjectFactory):
    class Meta:
        model = StoredCompletion

    public_id = factory.Sequence(lambda n: f"chatcmpl-{n:08d}")
    model = "jan-v1-4b"
    messages = factory.LazyFunction(lambda: [{"role": "user", "content": "hi"}])
