"""Routes of the model registry's REST API."""

from django.urls import path

from inference import apis

urlpatterns = [
    path("api/v1/models", apis.ModelListCreateApi.as_view(), name="models"),
    path("api/v1/models/fit", apis.ModelFitApi.as_view(), name="model-fit"),
    path("api/v1/models/<int:model_id>", apis.ModelDetailApi.as_view(), name="model-detail"),
    path("api/v1/declared-use", apis.DeclaredUseApi.as_view(), name="declared-use"),
]
