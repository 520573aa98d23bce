from django.urls import path

from inference.api import views

app_name = "inference"

urlpatterns = [
    path("models", views.models_list, name="models"),
    path("conv/models", views.models_list, name="conv-models"),
    path("models/<path:model_id>", views.model_detail, name="model"),
    path("completions", views.completions, name="completions"),
]
