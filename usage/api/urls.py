"""Routes of the usage and costs reports and of prices, mounted at /v1/organization/."""

from django.urls import include, path

from usage.api import views

app_name = "usage"

report_patterns = [
    path("usage/completions", views.UsageCompletionsView.as_view(), name="completions"),
    path("costs", views.CostsView.as_view(), name="costs"),
]

price_patterns = [
    path("model_prices", views.ModelPriceListView.as_view(), name="list"),
    path(
        "model_prices/<str:price_id>",
        views.ModelPriceDetailView.as_view(),
        name="detail",
    ),
]

urlpatterns = [
    path("", include((report_patterns, "reports"))),
    path("", include((price_patterns, "model_prices"))),
]
