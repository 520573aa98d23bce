"""Email and password accounts on allauth's flows: sign-up (open, invite-only, closed),
email verification, login, password reset and their throttles; mails read from Django's
locmem backend."""

import re
from urllib.parse import unquote

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.cache import cache

from accounts.models import User
from accounts.passwords import (
    EmailNotVerified,
    InvalidCredentials,
    InvalidKey,
    InviteRequired,
    SignupClosed,
)
from accounts.tests.factories import UserFactory
from accounts.tests.signed_in import REFRESH, assert_signed_in, me
from janserver import auth_cache
from orgs.models import Invite, InviteStatus, OrganizationMember, Project
from orgs.services import invite_create

pytestmark = pytest.mark.django_db

PASSWORD = "a-long enough passphrase 42"
VERIFY_URL = "https://app.example.com/verify-email"
RESET_URL = "https://app.example.com/reset-password"


@pytest.fixture(autouse=True)
def password_settings(settings):
    settings.SIGNUP_MODE = "open"
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    settings.EMAIL_VERIFICATION_URL = VERIFY_URL
    settings.PASSWORD_RESET_URL = RESET_URL
    cache.clear()
    auth_cache.reset_for_tests()
    return settings


def post(client, path, body):
    return client.post(f"/v1/auth/{path}", body, content_type="application/json")


def signup(client, email="ada@example.com", password=PASSWORD, **extra):
    return post(client, "signup", {"email": email, "password": password, **extra})


def login(client, email="ada@example.com", password=PASSWORD):
    return post(client, "login", {"email": email, "password": password})


def key_from(message, url):
    [link] = re.findall(re.escape(url) + r"\?key=(\S+)", message.body)
    return unquote(link)


def verify(client, index=-1):
    key = key_from(mail.outbox[index], VERIFY_URL)
    return post(client, "verify-email", {"key": key})


def error(message, param, code, type_="invalid_request_error"):
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def test_signup_verify_then_login(client):
    """Sign-up mails a link; the login waits for it; after it, the usual session."""
    response = signup(client, email="Ada@Example.com")
    assert response.status_code == 200
    assert response.json() == {
        "object": "email.verification_sent",
        "email": "ada@example.com",
    }
    assert REFRESH not in response.cookies
    [message] = mail.outbox
    assert message.to == ["ada@example.com"]
    assert message.subject.startswith("[janserver] ")
    user = User.objects.get()
    assert (user.email, user.is_guest, user.check_password(PASSWORD)) == (
        "ada@example.com",
        False,
        True,
    )
    assert Project.objects.get(memberships__user=user).name == "Default Project"

    early = login(client)
    assert early.status_code == 403
    assert early.json() == error(
        EmailNotVerified.default_message,
        "email",
        "email_not_verified",
        "permission_error",
    )

    verified = verify(client, index=0)
    assert verified.status_code == 200
    assert verified.json() == {"object": "email.verified", "email": "ada@example.com"}
    response = login(client, email="ADA@example.com")
    assert_signed_in(response)
    assert me(client, response)["id"] == user.public_id
    assert client.get("/v1/auth/refresh-token").status_code == 200


def test_the_verification_key_works_once(client):
    signup(client)
    key = key_from(mail.outbox[0], VERIFY_URL)
    assert post(client, "verify-email", {"key": key}).status_code == 200
    again = post(client, "verify-email", {"key": key})
    assert again.status_code == 400
    assert again.json() == error(InvalidKey.default_message, "key", "invalid_key")
    bad = post(client, "verify-email", {"key": key[:-2] + "xx"})
    assert bad.json() == error(InvalidKey.default_message, "key", "invalid_key")


def test_an_expired_verification_key_is_refused(client, settings):
    signup(client)
    settings.ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = -1
    response = verify(client)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_key"
    assert not EmailAddress.objects.get().verified


def test_login_of_an_unverified_address_sends_the_mail_again(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "confirm_email": ""}
    signup(client)
    assert login(client).status_code == 403
    assert len(mail.outbox) == 2
    assert verify(client).status_code == 200
    assert login(client).status_code == 200


def test_duplicate_email_gets_the_same_answer_and_a_mail_to_the_owner(client):
    """allauth's enumeration prevention: no new account, no hint in the answer."""
    owner = UserFactory(email="ada@example.com")
    response = signup(client, email="ADA@example.com", password="another " + PASSWORD)
    assert response.status_code == 200
    assert response.json() == {
        "object": "email.verification_sent",
        "email": "ada@example.com",
    }
    assert list(User.objects.all()) == [owner]
    [message] = mail.outbox
    assert message.to == ["ada@example.com"]
    assert "already exists" in message.body
    assert RESET_URL in message.body


def test_duplicate_email_without_mandatory_verification_is_a_400(client, settings):
    """Where allauth cannot hide it (no verification), the address is said taken."""
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"
    UserFactory(email="ada@example.com")
    response = signup(client)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "email"
    assert response.json()["error"]["code"] == "email_taken"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (
            {"email": "ada@example.com", "password": "short"},
            "password",
            "password_too_short",
        ),
        (
            {"email": "ada@example.com", "password": "password123"},
            "password",
            "password_too_common",
        ),
        (
            {"email": "ada@example.com", "password": "84736251908"},
            "password",
            "password_entirely_numeric",
        ),
        ({"email": "not-an-email", "password": PASSWORD}, "email", "invalid_value"),
        ({"email": "ada@example.com"}, "password", "missing_required_parameter"),
        ({"password": PASSWORD}, "email", "missing_required_parameter"),
        (
            {"email": "ada@example.com", "password": 42},
            "password",
            "password_too_short",
        ),
    ],
)
def test_bad_signups_are_400s_naming_the_field(client, body, param, code):
    response = post(client, "signup", body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert not User.objects.exists()
    assert not mail.outbox


def test_weak_password_message_is_djangos(client):
    response = signup(client, password="short")
    assert response.json() == error(
        "This password is too short. It must contain at least 8 characters.",
        "password",
        "password_too_short",
    )


def test_signup_without_verification_logs_in_at_once(client, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"
    response = signup(client)
    assert response.status_code == 200
    assert response.json()["object"] == "access.token"
    assert me(client, response)["email"] == "ada@example.com"
    assert not mail.outbox


def test_closed_signup_is_403(client, settings):
    settings.SIGNUP_MODE = "closed"
    response = signup(client)
    assert response.status_code == 403
    assert response.json() == error(
        SignupClosed.default_message, None, "signup_closed", "permission_error"
    )
    assert not User.objects.exists()


def test_closed_signup_still_lets_accounts_log_in(client, settings):
    settings.SIGNUP_MODE = "closed"
    user = UserFactory(email="ada@example.com", password=PASSWORD)
    EmailAddress.objects.create(
        user=user, email=user.email, verified=True, primary=True
    )
    assert login(client).status_code == 200


def test_invite_only_signup_needs_an_invite(client, settings):
    settings.SIGNUP_MODE = "invite"
    response = signup(client)
    assert response.status_code == 403
    assert response.json() == error(
        InviteRequired.default_message,
        "invite_code",
        "invite_required",
        "permission_error",
    )


def test_invite_signup_joins_the_organization_verified(client, settings, organization):
    """The invite's code proves the address: a session at once, the invite accepted."""
    settings.SIGNUP_MODE = "invite"
    invite, code = invite_create(
        organization=organization, email="ada@example.com", role="reader"
    )
    response = signup(client, invite_code=code)
    assert response.status_code == 200
    assert response.json()["object"] == "access.token"
    user = User.objects.get(email="ada@example.com")
    assert EmailAddress.objects.get(user=user).verified
    assert OrganizationMember.objects.filter(
        organization=organization, user=user
    ).exists()
    invite.refresh_from_db()
    assert invite.status == InviteStatus.ACCEPTED
    assert not mail.outbox


@pytest.mark.parametrize("case", ["unknown", "other-email", "used"])
def test_a_bad_invite_code_creates_nothing(client, settings, organization, case):
    settings.SIGNUP_MODE = "invite"
    invite, code = invite_create(
        organization=organization, email="ada@example.com", role="reader"
    )
    email = "ada@example.com"
    if case == "unknown":
        code = "x" * 48
    elif case == "other-email":
        email = "eve@example.com"
    else:
        Invite.objects.filter(pk=invite.pk).update(
            status=InviteStatus.ACCEPTED, accepted_at=invite.invited_at
        )
    response = signup(client, email=email, invite_code=code)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "invite_code"
    assert response.json()["error"]["code"] == "invalid_invite"
    assert not User.objects.filter(email=email).exists()
    assert not EmailAddress.objects.exists()


def test_guest_is_upgraded_in_place_when_its_address_is_verified(client):
    """Same row and projects; it stays a guest (and keeps its session) until verified."""
    guest_login = client.post("/v1/auth/guest-login")
    guest = User.objects.get()
    project = Project.objects.get(memberships__user=guest)
    response = signup(client)
    assert response.json() == {
        "object": "email.verification_sent",
        "email": "ada@example.com",
    }
    guest.refresh_from_db()
    assert guest.is_guest
    assert me(client, guest_login)["email"] == guest.email
    assert verify(client).status_code == 200
    user = User.objects.get()
    assert (user.pk, user.public_id, user.email, user.is_guest) == (
        guest.pk,
        guest.public_id,
        "ada@example.com",
        False,
    )
    response = login(client)
    assert response.status_code == 200
    assert me(client, response)["id"] == guest.public_id
    assert Project.objects.get(memberships__user=user) == project


def test_guest_is_upgraded_at_once_without_verification(client, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"
    guest_cookie = client.post("/v1/auth/guest-login").cookies[REFRESH].value
    guest = User.objects.get()
    response = signup(client)
    assert me(client, response) == {
        "object": "me",
        "id": guest.public_id,
        "email": "ada@example.com",
        "name": guest.name,
    }
    assert not User.objects.get().is_guest
    client.cookies[REFRESH] = guest_cookie
    assert client.get("/v1/auth/refresh-token").status_code == 401


def test_a_guest_signing_up_with_a_taken_email_stays_a_guest(client):
    UserFactory(email="ada@example.com")
    client.post("/v1/auth/guest-login")
    response = signup(client)
    assert response.json()["object"] == "email.verification_sent"
    assert User.objects.filter(is_guest=True).count() == 1
    assert not EmailAddress.objects.exists()


@pytest.mark.parametrize(
    ("email", "password"),
    [("ada@example.com", "wrong " + PASSWORD), ("nobody@example.com", PASSWORD)],
)
def test_wrong_password_or_unknown_email_is_the_same_401(client, email, password):
    user = UserFactory(email="ada@example.com", password=PASSWORD)
    EmailAddress.objects.create(
        user=user, email=user.email, verified=True, primary=True
    )
    response = login(client, email=email, password=password)
    assert response.status_code == 401
    assert response.json() == error(
        InvalidCredentials.default_message, None, "invalid_credentials"
    )


def test_a_guest_cannot_log_in_with_a_password(client):
    client.post("/v1/auth/guest-login")
    guest = User.objects.get()
    assert login(client, email=guest.email, password="").status_code == 400
    assert login(client, email=guest.email).status_code == 401


def test_failed_logins_are_throttled_per_account(client, settings):
    """Past the account's budget even the right password waits; others do not."""
    settings.ACCOUNT_RATE_LIMITS = {
        **settings.ACCOUNT_RATE_LIMITS,
        "login_failed": "100/m/ip,2/5m/key",
    }
    for email in ("ada@example.com", "bob@example.com"):
        user = UserFactory(email=email, password=PASSWORD)
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    assert login(client, password="wrong").status_code == 401
    assert login(client, password="wrong").status_code == 401
    throttled = login(client)
    assert throttled.status_code == 429
    assert throttled.json() == error(
        "Too many requests. Retry after the time given in Retry-After.",
        None,
        "rate_limit_exceeded",
        "rate_limit_error",
    )
    assert throttled["Retry-After"] == "300"
    assert login(client, email="bob@example.com").status_code == 200


def test_failed_logins_are_throttled_per_ip(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {
        **settings.ACCOUNT_RATE_LIMITS,
        "login_failed": "2/m/ip,100/5m/key",
    }
    assert login(client, email="a@example.com").status_code == 401
    assert login(client, email="b@example.com").status_code == 401
    assert login(client, email="c@example.com").status_code == 429
    other_ip = client.post(
        "/v1/auth/login",
        {"email": "d@example.com", "password": PASSWORD},
        content_type="application/json",
        REMOTE_ADDR="10.0.0.9",
    )
    assert other_ip.status_code == 401


def test_signups_are_throttled_per_ip(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "signup": "1/m/ip"}
    assert signup(client).status_code == 200
    response = signup(client, email="bob@example.com")
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    assert not User.objects.filter(email="bob@example.com").exists()


def test_password_reset_sets_a_new_password_and_ends_sessions(client):
    user = UserFactory(email="ada@example.com", password=PASSWORD)
    EmailAddress.objects.create(
        user=user, email=user.email, verified=True, primary=True
    )
    session = login(client)
    assert session.status_code == 200
    response = post(client, "password/reset", {"email": "ADA@example.com"})
    assert response.status_code == 200
    assert response.json() == {"object": "password.reset.requested", "status": "ok"}
    [message] = mail.outbox
    assert message.to == ["ada@example.com"]
    key = key_from(message, RESET_URL)
    new = "a brand new passphrase 43"
    done = post(client, "password/reset/confirm", {"key": key, "password": new})
    assert done.status_code == 200
    assert done.json() == {"object": "password.reset", "status": "ok"}
    assert client.get("/v1/auth/refresh-token").status_code == 401
    assert login(client).status_code == 401
    assert login(client, password=new).status_code == 200
    used = post(client, "password/reset/confirm", {"key": key, "password": PASSWORD})
    assert used.status_code == 400
    assert used.json() == error(InvalidKey.default_message, "key", "invalid_key")


def test_password_reset_of_an_unknown_email_answers_the_same_and_sends_nothing(client):
    response = post(client, "password/reset", {"email": "nobody@example.com"})
    assert response.status_code == 200
    assert response.json() == {"object": "password.reset.requested", "status": "ok"}
    assert not mail.outbox


def test_a_weak_new_password_or_a_bad_reset_key_is_400(client):
    user = UserFactory(email="ada@example.com", password=PASSWORD)
    post(client, "password/reset", {"email": "ada@example.com"})
    key = key_from(mail.outbox[0], RESET_URL)
    weak = post(client, "password/reset/confirm", {"key": key, "password": "short"})
    assert weak.status_code == 400
    assert weak.json()["error"]["param"] == "password"
    assert weak.json()["error"]["code"] == "password_too_short"
    token = key.partition("-")[2]
    # A user part that is missing, blank, not base 36 or too long (allauth's form
    # would read an invalid one as None and fail on it: a 500 schemathesis found).
    others = ("-" + token, " -" + token, "1 2-" + token,
              "+1-" + token, "z" * 14 + "-" + token)  # fmt: skip
    for bad in ("nonsense", key[:-3] + "abc", "zz-" + token, *others):
        response = post(
            client, "password/reset/confirm", {"key": bad, "password": PASSWORD}
        )
        assert response.json() == error(
            InvalidKey.default_message, "key", "invalid_key"
        )
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_an_expired_reset_key_is_400(client, settings):
    UserFactory(email="ada@example.com", password=PASSWORD)
    post(client, "password/reset", {"email": "ada@example.com"})
    key = key_from(mail.outbox[0], RESET_URL)
    settings.PASSWORD_RESET_TIMEOUT = -1
    response = post(
        client, "password/reset/confirm", {"key": key, "password": "x" + PASSWORD}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_key"


def test_reset_requests_are_throttled_per_email(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {
        **settings.ACCOUNT_RATE_LIMITS,
        "reset_password": "100/m/ip,1/m/key",
    }
    UserFactory(email="ada@example.com")
    assert (
        post(client, "password/reset", {"email": "ada@example.com"}).status_code == 200
    )
    again = post(client, "password/reset", {"email": "Ada@example.com"})
    assert again.status_code == 429
    assert (
        post(client, "password/reset", {"email": "bob@example.com"}).status_code == 200
    )
    assert len(mail.outbox) == 1
