"""Routes of /v1/chat/completions (creating, and OpenAI's stored chat completions),
mounted at /v1/."""

from django.urls import path

from conversations.api import chat_completions

app_name = "chat_completions"

COMPLETION = "chat/completions/<str:completion_id>"

urlpatterns = [
    path("chat/completions", chat_completions.chat_completions, name="list"),
    path(COMPLETION, chat_completions.chat_completion_detail, name="detail"),
    path(
        f"{COMPLETION}/messages",
        chat_completions.chat_completion_messages,
        name="messages",
    ),
]
