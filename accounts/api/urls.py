"""Login routes under /v1/auth/ (Jan's paths)."""

from django.urls import path

from accounts.api import views, views_oauth, views_password

app_name = "auth"

urlpatterns = [
    path("guest-login", views.GuestLoginView.as_view(), name="guest-login"),
    path("refresh-token", views.RefreshTokenView.as_view(), name="refresh-token"),
    path("logout", views.LogoutView.as_view(), name="logout"),
    path("me", views.MeView.as_view(), name="me"),
    path("signup", views_password.SignupView.as_view(), name="signup"),
    path("login", views_password.LoginView.as_view(), name="login"),
    path("verify-email", views_password.VerifyEmailView.as_view(), name="verify-email"),
    path(
        "password/reset",
        views_password.PasswordResetView.as_view(),
        name="password-reset",
    ),
    path(
        "password/reset/confirm",
        views_password.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path("google/login", views_oauth.GoogleLoginView.as_view(), name="google-login"),
    path(
        "google/callback",
        views_oauth.GoogleCallbackView.as_view(),
        name="google-callback",
    ),
    path(
        "<slug:provider>/login", views_oauth.OIDCLoginView.as_view(), name="oidc-login"
    ),
    path(
        "<slug:provider>/callback",
        views_oauth.OIDCCallbackView.as_view(),
        name="oidc-callback",
    ),
]
