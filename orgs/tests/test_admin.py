"""The admin: every page renders, searches find, keys and invites go through services."""

import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.tests.factories import UserFactory
from orgs.models import ApiKey, Invite, InviteProject, ProjectStatus
from orgs.services import (
    api_key_create,
    api_key_hash,
    api_key_revoke,
    invite_create,
    invite_hash,
    project_archive,
)
from orgs.tests.factories import (
    OrganizationMemberFactory,
    ProjectFactory,
    ProjectMemberFactory,
)

pytestmark = pytest.mark.django_db

SECRET_RE = re.compile(r"it will not be shown again: (\S+?)<")


def _make_organization():
    organization = OrganizationMemberFactory().organization
    ProjectFactory(organization=organization)
    return organization


def _make_api_key():
    project = ProjectFactory()
    owner = ProjectMemberFactory(project=project).user
    return api_key_create(
        kind="project", organization=project.organization, project=project, owner=owner
    )[0]


def _make_project():
    project = _make_api_key().project
    ProjectMemberFactory(project=project)
    return project


def _make_invite():
    project = ProjectFactory()
    email = UserFactory.build().email
    return invite_create(
        organization=project.organization, email=email, projects=[(project, "member")]
    )[0]


MAKERS = {
    "accounts.User": UserFactory,
    "auth.Group": lambda: Group.objects.create(name=f"Group {Group.objects.count()}"),
    "orgs.Organization": _make_organization,
    "orgs.OrganizationMember": OrganizationMemberFactory,
    "orgs.Project": _make_project,
    "orgs.ProjectMember": ProjectMemberFactory,
    "orgs.Invite": _make_invite,
    "orgs.ApiKey": _make_api_key,
}
REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)


def _make(model):
    """Create one object of `model`; for another app's model, reuse an existing row."""
    maker = MAKERS.get(model._meta.label)
    if maker is not None:
        return maker()
    obj = model._default_manager.first()
    if obj is None:
        pytest.skip(f"No {model._meta.label} row to open.")
    return obj


def _url(model, page, pk=None):
    name = f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}"
    return reverse(name, args=[pk] if page == "change" else [])


@pytest.mark.parametrize("page", ["changelist", "add", "change"])
@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_admin_pages_render_for_a_superuser(admin_client, superuser, model, page, rf):
    """Every registered model's list, add and change pages render for a superuser.

    Read-only admins (no add permission, such as the usage ledger) refuse the add page.
    """
    pk = _make(model).pk if page == "change" else None
    request = rf.get("/")
    request.user = superuser
    can_add = admin.site._registry[model].has_add_permission(request)
    expected = 403 if page == "add" and not can_add else 200
    assert admin_client.get(_url(model, page, pk)).status_code == expected


@pytest.mark.parametrize("page", ["changelist", "add", "change"])
@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_admin_pages_redirect_anonymous_users_to_login(client, model, page):
    """Every registered model's admin pages send an anonymous visitor to the login."""
    response = client.get(_url(model, page, 1))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


@pytest.mark.parametrize("label", [label for label in MAKERS if label != "auth.Group"])
def test_changelist_queries_do_not_grow_with_rows(admin_client, label):
    """A list page runs as many queries for three rows as for one (no N+1)."""
    url = _url(apps.get_model(label), "changelist")
    MAKERS[label]()
    admin_client.get(url)  # warm caches (content types, permissions)
    with CaptureQueriesContext(connection) as one_row:
        admin_client.get(url)
    MAKERS[label]()
    MAKERS[label]()
    with CaptureQueriesContext(connection) as three_rows:
        admin_client.get(url)
    assert len(three_rows) == len(one_row)


@pytest.mark.parametrize(
    ("label", "term"),
    [
        ("orgs.Organization", lambda organization: organization.public_id),
        ("orgs.Project", lambda project: project.public_id),
        ("orgs.Project", lambda project: project.organization.public_id),
        ("orgs.Invite", lambda invite: invite.public_id),
        ("orgs.Invite", lambda invite: invite.email),
        ("orgs.ApiKey", lambda api_key: api_key.public_id),
        ("orgs.ApiKey", lambda api_key: api_key.owner.email),
        ("orgs.OrganizationMember", lambda member: member.user.email),
        ("orgs.ProjectMember", lambda member: member.user.email),
    ],
)
def test_changelist_search_finds_only_the_match(admin_client, label, term):
    """Searching a list by public id or email returns the matching row only."""
    model = apps.get_model(label)
    target, _other = MAKERS[label](), MAKERS[label]()
    response = admin_client.get(_url(model, "changelist"), {"q": term(target)})
    assert list(response.context["cl"].result_list) == [target]


@pytest.mark.parametrize("model", [ApiKey, Invite])
def test_service_add_pages_have_no_inlines(admin_client, model):
    """Key and invite add pages hold only the service's fields, no inlines."""
    response = admin_client.get(_url(model, "add"))
    assert response.context["inline_admin_formsets"] == []


def _key_data(project, owner, overrides):
    data = {
        "kind": "project",
        "organization": project.organization.pk,
        "project": project.pk,
        "owner": owner.pk,
        "name": "ci",
        "description": "",
        "expires_at_0": "",
        "expires_at_1": "",
    }
    return data | overrides


@pytest.mark.parametrize(
    ("overrides", "button"),
    [
        ({}, "_save"),
        ({"kind": "admin", "project": ""}, "_continue"),
        ({"expires_at_0": "2999-01-01", "expires_at_1": "00:00:00"}, "_addanother"),
    ],
)
def test_api_key_add_shows_the_secret_once_and_stores_only_its_hash(
    admin_client, project, user, overrides, button
):
    """The add form creates the key via the service; the secret is shown just once."""
    OrganizationMemberFactory(
        organization=project.organization, user=user, role="owner"
    )
    data = _key_data(project, user, overrides) | {button: "1"}
    content = admin_client.post(_url(ApiKey, "add"), data, follow=True).text
    secret = SECRET_RE.search(content).group(1)
    assert re.fullmatch(r"sk-(admin|project)_[0-9a-z]{48}", secret)
    assert content.count(secret) == 1
    api_key = ApiKey.objects.get()
    assert api_key.key_hash == api_key_hash(secret)
    assert api_key.owner == user
    stored = [
        *ApiKey.objects.values().get().values(),
        *LogEntry.objects.values(),
        *(session.get_decoded() for session in Session.objects.all()),
    ]
    assert not any(secret in str(value) for value in stored)
    changelist = admin_client.get(_url(ApiKey, "changelist")).text
    change = admin_client.get(_url(ApiKey, "change", api_key.pk)).text
    assert secret not in changelist
    assert secret not in change
    assert api_key.key_hash not in changelist
    assert api_key.key_hash not in change  # nor the HMAC of the key


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param(lambda project: {"project": ""}, "project", id="no-project"),
        pytest.param(
            lambda project: {"kind": "admin"}, "project", id="admin-in-project"
        ),
        pytest.param(
            lambda project: {"project": ProjectFactory().pk},
            "project",
            id="project-of-another-organization",
        ),
        pytest.param(
            lambda project: {"expires_at_0": "2000-01-01", "expires_at_1": "00:00:00"},
            "expires_at",
            id="past-expiry",
        ),
        pytest.param(
            lambda project: {"project": project_archive(project=project).pk},
            "project",
            id="archived-project",
        ),
    ],
)
def test_api_key_add_rejects_invalid_input(
    admin_client, project, user, overrides, field
):
    """An invalid key form re-renders with the error on its field and creates nothing."""
    data = _key_data(project, user, overrides(project))
    response = admin_client.post(_url(ApiKey, "add"), data)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not ApiKey.objects.exists()


def test_api_key_change_page_edits_only_name_description_enabled_and_expiry(
    admin_client, project_key
):
    """The change page saves the editable fields and ignores the rest."""
    api_key, _ = project_key
    before = ApiKey.objects.values().get()
    data = {"name": "renamed", "description": "d", "kind": "admin", "project": ""}
    data |= {"expires_at_0": "", "expires_at_1": ""}
    response = admin_client.post(_url(ApiKey, "change", api_key.pk), data)
    assert response.status_code == 302
    changed = {"name": "renamed", "description": "d", "enabled": False}
    assert ApiKey.objects.values().get() == before | changed


def test_revoke_action_revokes_only_the_selected_keys(
    admin_client, project_key, admin_key
):
    """The revoke action revokes the selected keys through the service and counts them."""
    (selected, _), (other, _) = project_key, admin_key
    api_key_revoke(api_key=_make_api_key())  # already revoked: selected, not counted
    pks = [
        selected.pk,
        *ApiKey.objects.filter(revoked_at__isnull=False).values_list("pk", flat=True),
    ]
    data = {"action": "revoke_api_keys", "_selected_action": pks}
    response = admin_client.post(_url(ApiKey, "changelist"), data, follow=True)
    selected.refresh_from_db()
    other.refresh_from_db()
    assert selected.revoked_at is not None
    assert other.revoked_at is None
    assert "Revoked 1 API key(s)." in response.text


def test_archive_action_archives_only_the_selected_projects(admin_client):
    """The archive action archives the selected projects through the service."""
    selected, other = ProjectFactory(), ProjectFactory()
    data = {"action": "archive_projects", "_selected_action": [selected.pk]}
    response = admin_client.post(_url(type(selected), "changelist"), data, follow=True)
    selected.refresh_from_db()
    other.refresh_from_db()
    assert (selected.status, other.status) == (
        ProjectStatus.ARCHIVED,
        ProjectStatus.ACTIVE,
    )
    assert selected.archived_at is not None
    assert "Archived 1 project(s)." in response.text


def test_invite_add_shows_the_code_once_and_stores_only_its_hash(
    admin_client, organization, superuser
):
    """The invite form creates the invite via the service and shows its code once."""
    data = {
        "organization": organization.pk,
        "email": "New.Person@Example.com",
        "role": "reader",
        "invited_by": superuser.pk,
    }
    content = admin_client.post(_url(Invite, "add"), data, follow=True).text
    code = SECRET_RE.search(content).group(1)
    assert content.count(code) == 1
    invite = Invite.objects.get()
    assert invite.secret_hash == invite_hash(code)
    assert (invite.email, invite.invited_by) == ("new.person@example.com", superuser)
    assert not any(
        code in str(value) for value in Invite.objects.values().get().values()
    )
    assert code not in admin_client.get(_url(Invite, "change", invite.pk)).text


def test_invite_add_rejects_an_invalid_email(admin_client, organization):
    """An invalid invite form re-renders with the error and creates nothing."""
    data = {"organization": organization.pk, "email": "nope", "role": "reader"}
    response = admin_client.post(_url(Invite, "add"), data)
    assert "email" in response.context["adminform"].form.errors
    assert not Invite.objects.exists()


@pytest.mark.parametrize("same_organization", [True, False])
def test_invite_project_inline_accepts_only_the_invites_organization(
    admin_client, project, same_organization
):
    """An invite's projects must belong to the invite's organization."""
    invite, _ = invite_create(organization=project.organization, email="a@example.com")
    linked = project if same_organization else ProjectFactory()
    data = {
        "role": "reader",
        "projects-TOTAL_FORMS": "1",
        "projects-INITIAL_FORMS": "0",
    }
    data |= {"projects-0-project": linked.pk, "projects-0-role": "member"}
    response = admin_client.post(_url(Invite, "change", invite.pk), data)
    assert response.status_code == (302 if same_organization else 200)
    assert InviteProject.objects.filter(invite=invite).exists() == same_organization
