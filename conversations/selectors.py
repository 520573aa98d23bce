"""Conversation reads: every lookup is scoped to what the caller may see.

Visibility, in one place so that no view can forget it:
- a project key sees the conversations and workspaces of its project (whoever made them);
- a login user sees the ones they own (made by them or by their own project keys), in
  every project, narrowed to one project when the call names it (OpenAI-Project).
A foreign id answers NotFound exactly like an unknown one, and so does a deleted
conversation.
"""

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from accounts.models import User
from conversations.models import Conversation, Item, Workspace
from janserver import auth_cache, db
from janserver.auth import principal_user
from janserver.errors import Forbidden, InvalidRequest, NotFound
from janserver.principal import Principal, PrincipalKind
from orgs.models import ProjectStatus
from orgs.selectors import project_get, project_role_get

PROJECT_HEADER = "OpenAI-Project"
WORKSPACE_NONE = "none"


@dataclass(frozen=True)
class Caller:
    """Who acts on conversations, and in which project.

    `project_id` is a key's project, or the project a user named in OpenAI-Project;
    None for a user who named none (their personal project receives new objects).
    A user sees their own conversations and workspaces in the projects they are still
    a member of (`member_project_ids`): leaving an organization or a project ends it.
    """

    user: User
    via_key: bool
    project_id: int | None = None
    member_project_ids: tuple[int, ...] = ()

    def visible(self) -> Q:
        """Return the filter of the conversations and workspaces this caller may see."""
        if self.via_key:
            return Q(project_id=self.project_id)
        if self.project_id is not None:
            return Q(owner_id=self.user.pk, project_id=self.project_id)
        return Q(owner_id=self.user.pk, project_id__in=self.member_project_ids)

    def can_see(self, conversation: Conversation) -> bool:
        """Whether `conversation` passes visible() (for one already loaded)."""
        if self.via_key:
            return conversation.project_id == self.project_id
        if conversation.owner_id != self.user.pk:
            return False
        if self.project_id is not None:
            return conversation.project_id == self.project_id
        return conversation.project_id in self.member_project_ids


def _project_not_found(public_id: str) -> NotFound:
    return NotFound(f"No project {public_id!r}.", param=PROJECT_HEADER)


def caller_get(*, principal: Principal, project_public_id: str | None) -> Caller:
    """Return the Caller of a conversations call.

    A project key may name only its own project; a user only an active project they
    are a member of. Anything else answers NotFound like an unknown project.
    """
    user = principal_user(principal)
    if principal.kind == PrincipalKind.PROJECT_KEY:
        if project_public_id and project_public_id != principal.project_public_id:
            raise _project_not_found(project_public_id)
        return Caller(user=user, via_key=True, project_id=principal.project_id)
    if principal.kind != PrincipalKind.USER:
        raise Forbidden("Admin API keys can only use organization admin routes.")
    if not project_public_id:
        return Caller(
            user=user,
            via_key=False,
            member_project_ids=principal.member_project_ids,
        )
    try:
        project = project_get(public_id=project_public_id)
    except NotFound:
        raise _project_not_found(project_public_id) from None
    if project.status != ProjectStatus.ACTIVE or not project_role_get(
        project=project, user=user
    ):
        raise _project_not_found(project_public_id)
    return Caller(
        user=user,
        via_key=False,
        project_id=project.pk,
        member_project_ids=principal.member_project_ids,
    )


def _not_found(kind: str, public_id: str, param: str) -> NotFound:
    return NotFound(f"No {kind} with id {public_id!r}.", param=param)


def conversation_list(
    *, caller: Caller, workspace_public_id: str | None = None
) -> QuerySet[Conversation]:
    """Return the caller's conversations (not deleted), their workspaces joined.

    `workspace_public_id` keeps those of one workspace; "none" those without one.
    """
    conversations = Conversation.objects.select_related("workspace").filter(
        caller.visible(), deleted_at__isnull=True
    )
    if workspace_public_id == WORKSPACE_NONE:
        conversations = conversations.filter(workspace__isnull=True)
    elif workspace_public_id:
        conversations = conversations.filter(workspace__public_id=workspace_public_id)
    return conversations


def conversation_get(*, caller: Caller, public_id: str) -> Conversation:
    """Return a conversation the caller may see; raise NotFound."""
    try:
        return conversation_list(caller=caller).get(public_id=public_id)
    except Conversation.DoesNotExist:
        raise _not_found("conversation", public_id, "conversation_id") from None


CACHE_KIND = "conversation"


def conversation_cached(*, public_id: str) -> bool:
    """Whether conversation_get_cached() would answer without a query."""
    return auth_cache.cache().get((CACHE_KIND, public_id)) is not auth_cache.MISSING


def conversation_get_cached(*, caller: Caller, public_id: str) -> Conversation:
    """See conversation_get(); answered from the per-process cache when warm.

    For conversation-aware completions, which look the same conversation up on every
    turn before calling the model. The services that change what a turn reads of a
    conversation (title, workspace and its instruction, deletion) invalidate it.
    The instance is shared by every caller: read it, never change it.
    """
    key = (CACHE_KIND, public_id)
    cached = auth_cache.cache().get(key)
    if cached is auth_cache.MISSING:
        cached = db.row_get(
            Conversation,
            related="workspace",
            equal={"public_id": public_id},
            null=("deleted_at",),
        )
        if cached is not None:
            auth_cache.cache().set(key, cached)
    if cached is None or not caller.can_see(cached):
        raise _not_found("conversation", public_id, "conversation_id")
    return cached


def item_get(*, conversation: Conversation, public_id: str) -> Item:
    """Return an item of `conversation` (which the caller may see); raise NotFound."""
    try:
        item = Item.objects.get(conversation=conversation, public_id=public_id)
    except Item.DoesNotExist:
        raise _not_found("item", public_id, "item_id") from None
    item.conversation = conversation
    return item


def item_page(
    *,
    conversation: Conversation,
    limit: int,
    order: str = "desc",
    after: str | None = None,
) -> tuple[list[Item], bool]:
    """Return one page of a conversation's items by position, and whether more follow.

    Three queries at most, whatever the conversation's size: the cursor's position, the
    page's positions (from the (conversation, position) index alone), then its rows. `after` must be an item
    of this conversation (InvalidRequest otherwise).
    """
    items = Item.objects.filter(conversation=conversation)
    descending = order == "desc"
    if after:
        try:
            # get(), not first(): public ids are unique, and first() adds a sort.
            cursor = items.values_list("position", flat=True).get(public_id=after)
        except Item.DoesNotExist:
            raise InvalidRequest(
                f"The cursor {after!r} is not an item of this conversation.",
                param="after",
            ) from None
        bound: dict[str, Any] = (
            {"position__lt": cursor} if descending else {"position__gt": cursor}
        )
        items = items.filter(**bound)
    ordering = "-position" if descending else "position"
    # The page's positions come from the index alone (an index-only scan on
    # PostgreSQL); then only the rows between its first and last position are read.
    positions = list(
        items.order_by(ordering).values_list("position", flat=True)[: limit + 1]
    )
    if not positions:
        return [], False
    rows = list(
        Item.objects.filter(
            conversation=conversation,
            position__gte=min(positions[0], positions[-1]),
            position__lte=max(positions[0], positions[-1]),
        ).order_by(ordering)
    )
    return rows[:limit], len(rows) > limit


def workspace_list(
    *, caller: Caller, include_archived: bool = True
) -> QuerySet[Workspace]:
    """Return the workspaces (chat projects) the caller may see, the archived ones
    only with `include_archived`."""
    workspaces = Workspace.objects.filter(caller.visible())
    if not include_archived:
        workspaces = workspaces.filter(archived_at__isnull=True)
    return workspaces


def workspace_get(
    *,
    caller: Caller,
    public_id: str,
    project_id: int | None = None,
    param: str = "workspace_id",
) -> Workspace:
    """Return a workspace the caller may see (in `project_id` if given); raise NotFound
    naming `param` (Jan's newer API calls it `project_id`).

    A conversation and its workspace share a project, so a workspace of another
    project is not found for that conversation.
    """
    workspaces = workspace_list(caller=caller).filter(public_id=public_id)
    if project_id is not None:
        workspaces = workspaces.filter(project_id=project_id)
    workspace = workspaces.first()
    if workspace is None:
        kind = "project" if param == "project_id" else "workspace"
        raise _not_found(kind, public_id, param)
    return workspace
