"""Routes of the Responses API, mounted at /v1/."""

from django.urls import path

from conversations.api import responses

app_name = "responses"

RESPONSE = "responses/<str:response_id>"

urlpatterns = [
    path("responses", responses.responses_create, name="list"),
    path(RESPONSE, responses.response_detail, name="detail"),
    path(f"{RESPONSE}/cancel", responses.response_cancel, name="cancel"),
    path(f"{RESPONSE}/input_items", responses.response_input_items, name="input-items"),
]
