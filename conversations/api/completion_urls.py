"""Routes of Jan's conversation-aware chat completions, mounted at /v1/."""

from django.urls import path

from conversations.api import completions

app_name = "conv_completions"

urlpatterns = [
    path(
        "conv/chat/completions",
        completions.conv_chat_completions,
        name="chat-completions",
    ),
]
