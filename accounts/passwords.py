"""Email and password accounts through django-allauth's account forms and flows: sign-up
(open, invite-only or closed), login, email verification and password reset."""

import contextlib
import re
from dataclasses import dataclass

from allauth.account import app_settings as account_settings
from allauth.account import signals
from allauth.account.adapter import get_adapter
from allauth.account.forms import (
    LoginForm,
    ResetPasswordForm,
    ResetPasswordKeyForm,
    SignupForm,
    UserTokenForm,
)
from allauth.account.internal import flows
from allauth.account.models import EmailAddress, Login, get_emailconfirmation_model
from allauth.core import ratelimit
from allauth.core.internal.ratelimit import parse_rates
from django import forms
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from accounts.models import User, normalize_email
from accounts.selectors import session_guest_get
from accounts.services import email_verified_apply, password_user_create
from accounts.tokens import (
    TokenPair,
    session_revoke,
    sessions_revoke_for_user,
    tokens_issue,
)
from janserver.errors import (
    APIError,
    Forbidden,
    InvalidRequest,
    MissingParameter,
    RateLimited,
    Unauthenticated,
)
from orgs.services import invite_accept

MANDATORY = account_settings.EmailVerificationMethod.MANDATORY
NONE = account_settings.EmailVerificationMethod.NONE
# allauth's form fields, as this API names them.
PARAMS = {"login": "email", "password1": "password", "password2": "password"}

# The user part of a password reset key: the user's id in base 36 (Django's
# int_to_base36, at most 13 digits).
_USER_PART = re.compile(r"[0-9a-z]{1,13}")


class SignupClosed(Forbidden):
    code = "signup_closed"
    default_message = "Sign-up is closed on this server; ask an administrator."


class InviteRequired(Forbidden):
    code = "invite_required"
    default_message = (
        "Sign-up on this server needs an invite: pass the code of the invite email "
        "as invite_code."
    )

    def __init__(self) -> None:
        super().__init__(param="invite_code")


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"
    default_message = "Incorrect email address or password."


class EmailNotVerified(Forbidden):
    code = "email_not_verified"
    default_message = (
        "This email address is not verified yet: follow the link of the "
        "verification email (a new one was sent unless one was sent minutes ago)."
    )

    def __init__(self) -> None:
        super().__init__(param="email")


class InvalidKey(InvalidRequest):
    code = "invalid_key"
    default_message = "This key is invalid, has expired or was used already."

    def __init__(self) -> None:
        super().__init__(param="key")


@dataclass(frozen=True)
class SignupOutcome:
    """`tokens` is None when a verification email was sent and no session started."""

    email: str
    tokens: TokenPair | None


def _retry_after(action: str) -> int:
    rates = parse_rates(account_settings.RATE_LIMITS.get(action))
    return int(max((rate.duration for rate in rates), default=60))


def _throttle(request: HttpRequest, action: str, key: str | None = None) -> None:
    if not ratelimit.consume(request, action=action, key=key):
        raise RateLimited(retry_after=_retry_after(action))


def _form_error(form: forms.Form) -> APIError:
    """The first error of an allauth form, as the API's 400 (or 429)."""
    field, errors = next(iter(form.errors.as_data().items()))
    error = errors[0]
    if error.code == "too_many_login_attempts":
        return RateLimited(retry_after=_retry_after("login_failed"))
    message = " ".join(error.messages)
    param = None if field == "__all__" else PARAMS.get(field, field)
    if error.code == "required":
        return MissingParameter(message, param=param)
    code = error.code if error.code and error.code != "invalid" else "invalid_value"
    return InvalidRequest(message, param=param, code=code)


def _guest(refresh: str | None) -> User | None:
    if not refresh:
        return None
    with contextlib.suppress(Unauthenticated):
        return session_guest_get(refresh=refresh)
    return None


@transaction.atomic
def _signup_create(
    *, email: str, password: str, guest: User | None, invite_code: str
) -> User:
    verified = bool(invite_code)
    user = password_user_create(
        email=email,
        password=password,
        guest=guest,
        upgrade_now=verified or account_settings.EMAIL_VERIFICATION != MANDATORY,
        verified=verified,
    )
    if invite_code:
        try:
            invite_accept(code=invite_code, user=user)
        except APIError as exc:
            raise InvalidRequest(
                exc.message, param="invite_code", code="invalid_invite"
            ) from None
    return user


def password_signup(
    *,
    request: HttpRequest,
    email: str,
    password: str,
    invite_code: str,
    refresh: str | None,
) -> SignupOutcome:
    """Sign up with an email and a password, as SIGNUP_MODE allows.

    An organization invite's code (required when SIGNUP_MODE is invite) proves the
    address: the account is verified, joins the invite's organization and gets a
    session. Otherwise, with mandatory verification, a verification email is sent and
    no session starts; an address that has an account gets the same answer and a
    mail to its owner (allauth's enumeration prevention). A guest of `refresh` is
    upgraded in place: at once when the address is proven or verification is not
    mandatory, else when it is verified (email_verify).
    """
    if not get_adapter(request).is_open_for_signup(request):
        raise SignupClosed()
    if settings.SIGNUP_MODE == "invite" and not invite_code:
        raise InviteRequired()
    _throttle(request, "signup")
    form = SignupForm(data={"email": email, "password1": password})
    if not form.is_valid():
        raise _form_error(form)
    email = normalize_email(form.cleaned_data["email"])
    if form.account_already_exists:
        address = EmailAddress(user=None, email=email)
        flows.email_verification.send_verification_email_to_address(
            request, address, signup=True
        )
        return SignupOutcome(email=email, tokens=None)
    try:
        user = _signup_create(
            email=email,
            password=password,
            guest=_guest(refresh),
            invite_code=invite_code,
        )
    except IntegrityError:
        # A concurrent sign-up took the address: the answer of a taken address.
        if account_settings.EMAIL_VERIFICATION == MANDATORY:
            return SignupOutcome(email=email, tokens=None)
        message = str(get_adapter(request).error_messages["email_taken"])
        raise InvalidRequest(message, param="email", code="email_taken") from None
    signals.user_signed_up.send(sender=User, request=request, user=user)
    address = EmailAddress.objects.get(user=user, email=email)
    if not address.verified and account_settings.EMAIL_VERIFICATION != NONE:
        flows.email_verification.send_verification_email_to_address(
            request, address, signup=True
        )
    if user.is_guest:
        return SignupOutcome(email=email, tokens=None)
    if not address.verified and account_settings.EMAIL_VERIFICATION == MANDATORY:
        return SignupOutcome(email=email, tokens=None)
    pair = tokens_issue(user=user)
    if refresh:
        session_revoke(refresh=refresh)
    return SignupOutcome(email=email, tokens=pair)


def password_login(
    *, request: HttpRequest, email: str, password: str, refresh: str | None
) -> TokenPair:
    """Log in with an email and a password; start a session like the other logins.

    allauth's LoginForm checks the password and counts failures per IP and per
    account (RateLimited past them). With mandatory verification an unverified
    address is EmailNotVerified, and its verification email is sent again.
    """
    _throttle(request, "login")
    form = LoginForm(data={"login": email, "password": password}, request=request)
    if not form.is_valid():
        if "__all__" in form.errors and "login" not in form.errors:
            error = _form_error(form)
            raise error if isinstance(error, RateLimited) else InvalidCredentials()
        raise _form_error(form)
    user: User = form.user  # type: ignore[assignment]
    email = normalize_email(email)
    if account_settings.EMAIL_VERIFICATION == MANDATORY and not (
        EmailAddress.objects.filter(user=user, email=email, verified=True).exists()
    ):
        login = Login(user=user, email=email)
        flows.email_verification.send_verification_email_at_login(request, login)
        raise EmailNotVerified()
    pair = tokens_issue(user=user)
    if refresh:
        session_revoke(refresh=refresh)
    return pair


def email_verify(*, request: HttpRequest, key: str) -> EmailAddress:
    """Verify the address of an email's key (InvalidKey when bad, expired or used).

    A guest that signed up with this address becomes its user in place now.
    """
    confirmation = get_emailconfirmation_model().from_key(key)
    if confirmation is None or confirmation.key_expired():
        raise InvalidKey()
    address = confirmation.email_address
    if address.verified:
        raise InvalidKey()
    try:
        with transaction.atomic():
            if confirmation.confirm(request) is None:
                raise InvalidKey()
            email_verified_apply(user=address.user, email=address.email)
    except IntegrityError:
        raise InvalidKey() from None
    return address


def password_reset_request(*, request: HttpRequest, email: str) -> None:
    """Email a password reset link to the accounts of `email`, if any (same answer)."""
    form = ResetPasswordForm(data={"email": email})
    if not form.is_valid():
        raise _form_error(form)
    _throttle(request, "reset_password", key=normalize_email(email))
    form.save(request)


def password_reset_confirm(*, request: HttpRequest, key: str, password: str) -> User:
    """Set a new password with the key of a reset email; end every session of the user.

    InvalidKey when the key is bad, expired or used (a reset changes what it signs).
    """
    _throttle(request, "reset_password_from_key")
    uidb36, _, token = key.partition("-")
    if not _USER_PART.fullmatch(uidb36):
        # allauth's form reads a user part it finds invalid as None, and fails on it.
        raise InvalidKey()
    token_form = UserTokenForm(data={"uidb36": uidb36, "key": token})
    if not token_form.is_valid():
        raise InvalidKey()
    user: User = token_form.reset_user  # type: ignore[assignment]
    data = {"password1": password, "password2": password}
    form = ResetPasswordKeyForm(data=data, user=user, temp_key=token)
    if not form.is_valid():
        raise _form_error(form)
    form.save()
    flows.password_reset.finalize_password_reset(request, user)
    sessions_revoke_for_user(user=user, reason="password_reset")
    return user
