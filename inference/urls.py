"""Routes of the model registry's REST API and of the portal's Models section (administrators)."""

from django.urls import path

from inference import apis, evaluation_views, licence_apis, views

urlpatterns = [
    path("api/v1/models", apis.ModelListCreateApi.as_view(), name="models-api"),
    path("api/v1/models/fit", apis.ModelFitApi.as_view(), name="model-fit"),
    path("api/v1/models/<int:model_id>", apis.ModelDetailApi.as_view(), name="model-detail"),
    path("api/v1/declared-use", apis.DeclaredUseApi.as_view(), name="declared-use"),
    path("api/v1/licences", licence_apis.LicenceListCreateApi.as_view(), name="licences"),
    path("api/v1/licences/<str:key>", licence_apis.LicenceDetailApi.as_view(), name="licence-detail"),
    path("api/v1/licences/<str:key>/reset", licence_apis.LicenceResetApi.as_view(), name="licence-reset"),
    path("models/", views.models_index, name="models"),
    path("models/<int:model_id>/", views.model_page, name="model-page"),
    path("models/evaluation/", evaluation_views.evaluation_index, name="models-evaluation"),
    path("models/evaluation/compare/", evaluation_views.evaluation_compare_pick, name="models-compare-pick"),
    path(
        "models/evaluation/compare/<int:run_a>/<int:run_b>/",
        evaluation_views.evaluation_compare_page,
        name="models-compare",
    ),
]
