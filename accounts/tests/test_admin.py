"""The user admin: email logins, lowercase emails, a read-only public id."""

import pytest
from allauth.socialaccount.models import SocialApp
from django.urls import reverse

from accounts.models import User
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-admin-chosen-passphrase"


def test_user_add_form_creates_a_lowercase_user_with_a_usable_password(admin_client):
    """The add form lowercases the email and sets the password it was given."""
    data = {
        "email": " New.User@Example.COM ",
        "password1": PASSWORD,
        "password2": PASSWORD,
    }
    response = admin_client.post(reverse("admin:accounts_user_add"), data)
    user = User.objects.get(email="new.user@example.com")
    assert response.status_code == 302
    assert response.url == reverse("admin:accounts_user_change", args=[user.pk])
    assert user.has_usable_password()
    assert user.check_password(PASSWORD)
    assert not user.is_staff
    assert not user.is_superuser


@pytest.mark.parametrize(
    ("email", "password2", "field"),
    [
        ("Taken@Example.com", PASSWORD, "email"),
        ("fresh@example.com", PASSWORD + "-typo", "password2"),
        ("not-an-email", PASSWORD, "email"),
    ],
)
def test_user_add_form_rejects_invalid_input(admin_client, email, password2, field):
    """A taken email (in any case), mismatched passwords or a bad email re-render."""
    UserFactory(email="taken@example.com")
    data = {"email": email, "password1": PASSWORD, "password2": password2}
    response = admin_client.post(reverse("admin:accounts_user_add"), data)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert User.objects.count() == 2  # the superuser and the existing user


def test_user_change_form_lowercases_the_email_and_keeps_public_id(admin_client, user):
    """The change form saves a lowercase email; the public id is read-only."""
    data = {
        "email": "Changed@Example.com",
        "name": "Renamed",
        "is_active": "on",
        "date_joined_0": "2024-01-02",
        "date_joined_1": "03:04:05",
        "public_id": "user_forged",
    }
    url = reverse("admin:accounts_user_change", args=[user.pk])
    response = admin_client.post(url, data)
    assert response.status_code == 302
    stored = User.objects.get(pk=user.pk)
    assert (stored.email, stored.name, stored.public_id) == (
        "changed@example.com",
        "Renamed",
        user.public_id,
    )


def test_user_change_page_shows_the_public_id_read_only(admin_client, user):
    """The change page shows the public id but has no input for it."""
    response = admin_client.get(reverse("admin:accounts_user_change", args=[user.pk]))
    assert user.public_id in response.text
    assert "public_id" not in response.context["adminform"].form.fields


def test_user_password_change_page_renders(admin_client, user):
    """The admin's set-password page works with the email-based user."""
    url = reverse("admin:auth_user_password_change", args=[user.pk])
    assert admin_client.get(url).status_code == 200


@pytest.mark.parametrize(
    "term",
    [
        pytest.param(lambda user: user.public_id, id="public-id"),
        pytest.param(lambda user: user.email, id="email"),
        pytest.param(lambda user: user.email.upper(), id="email-any-case"),
    ],
)
def test_user_changelist_search_finds_only_the_match(admin_client, term):
    """Searching users by public id or email returns the matching user only."""
    target, _other = UserFactory(), UserFactory()
    url = reverse("admin:accounts_user_changelist")
    response = admin_client.get(url, {"q": term(target)})
    assert list(response.context["cl"].result_list) == [target]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"is_guest__exact": "1"}, "guest"),
        ({"is_staff__exact": "1"}, "staff"),
        ({"is_active__exact": "0"}, "inactive"),
    ],
)
def test_user_changelist_filters(admin_client, superuser, query, expected):
    """The guest, staff and active filters narrow the list."""
    users = {
        "guest": UserFactory(is_guest=True),
        "inactive": UserFactory(is_active=False),
        "staff": superuser,
    }
    url = reverse("admin:accounts_user_changelist")
    response = admin_client.get(url, query)
    assert list(response.context["cl"].result_list) == [users[expected]]


def test_admin_index_shows_one_accounts_section_with_allauths_models(admin_client):
    """Users, email addresses, identity providers and linked identities: one section."""
    response = admin_client.get(reverse("admin:index"))
    sections = [app["name"] for app in response.context["app_list"]]
    assert sections.count("Accounts") == 1
    assert "Social Accounts" not in sections
    [accounts] = [
        app for app in response.context["app_list"] if app["name"] == "Accounts"
    ]
    assert {model["object_name"] for model in accounts["models"]} == {
        "User",
        "EmailAddress",
        "SocialApp",
        "SocialAccount",
    }


def test_allauths_models_open_in_the_admin(admin_client, user):
    """The proxies serve allauth's own admin pages (lists and the provider form)."""
    for name in ("emailaddress", "socialapp", "socialaccount"):
        response = admin_client.get(reverse(f"admin:accounts_{name}_changelist"))
        assert response.status_code == 200
    assert admin_client.get(reverse("admin:accounts_socialapp_add")).status_code == 200


def test_an_identity_provider_is_added_in_the_admin(admin_client):
    """The add form stores an allauth openid_connect app with its settings JSON."""

    data = {
        "provider": "openid_connect",
        "provider_id": "keycloak",
        "name": "Keycloak",
        "client_id": "janserver",
        "secret": "a-client-secret",
        "key": "",
        "settings": '{"server_url": "https://sso.example.com/realms/acme", '
        '"redirect_url": "https://app.example.com/auth/keycloak/callback"}',
    }
    response = admin_client.post(reverse("admin:accounts_socialapp_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    app = SocialApp.objects.get()
    assert (app.provider, app.provider_id, app.client_id) == (
        "openid_connect",
        "keycloak",
        "janserver",
    )
    assert app.settings["server_url"] == "https://sso.example.com/realms/acme"
