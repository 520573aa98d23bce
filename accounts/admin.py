"""Admin for users: the email is the login, the public id is read-only."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm
from django.contrib.auth.forms import UserChangeForm as BaseUserChangeForm

from accounts.models import User, normalize_email


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
