"""Admin for users: the email is the login, the public id is read-only; allauth's email
addresses, identity providers and linked identities sit in the same Accounts section."""

from allauth.account import models as allauth_account_models
from allauth.account.admin import EmailAddressAdmin
from allauth.socialaccount import models as allauth_social_models
from allauth.socialaccount.admin import SocialAccountAdmin, SocialAppAdmin
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm
from django.contrib.auth.forms import UserChangeForm as BaseUserChangeForm

from accounts.models import (
    EmailAddress,
    SocialAccount,
    SocialApp,
    User,
    normalize_email,
)


class UserCreationForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        # The database only accepts lowercase emails (a check constraint).
        return normalize_email(self.cleaned_data["email"])


class UserChangeForm(BaseUserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("public_id", "email", "password")}),
        ("Personal info", {"fields": ("name", "is_guest")}),
        (
            "Permissions",
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {"classes": ("wide",), "fields": ("email", "password1", "password2")},
        ),
    )
    readonly_fields = ("public_id", "last_login")
    list_display = (
        "email",
        "public_id",
        "name",
        "is_guest",
        "is_staff",
        "is_active",
        "date_joined",
    )
    list_filter = ("is_guest", "is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("public_id", "email", "name")
    ordering = ("-date_joined",)


# allauth registers its models under its own apps ("Accounts" again, "Social Accounts");
# the same admin classes serve them here through proxies. Social tokens are not stored
# (SOCIALACCOUNT_STORE_TOKENS is off) and email confirmations are HMAC-based: neither
# has rows to show.
for model in (
    allauth_account_models.EmailAddress,
    allauth_social_models.SocialApp,
    allauth_social_models.SocialAccount,
    allauth_social_models.SocialToken,
):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
admin.site.register(EmailAddress, EmailAddressAdmin)
admin.site.register(SocialApp, SocialAppAdmin)
admin.site.register(SocialAccount, SocialAccountAdmin)
