from django.urls import path

from inference.api import views

app_name = "inference"

urlpatterns = [
    path("models", views.models_list, name="models"),
    path("models/<path:model_id>", views.model_detail, name="model"),
]
