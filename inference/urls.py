"""Routes of the model registry's REST API."""

from django.urls import path

from inference import apis, licence_apis

urlpatterns = [
    path("api/v1/models", apis.ModelListCreateApi.as_view(), name="models"),
    path("api/v1/models/<int:model_id>", apis.ModelDetailApi.as_view(), name="model-detail"),
    path("api/v1/declared-use", apis.DeclaredUseApi.as_view(), name="declared-use"),
    path("api/v1/licences", licence_apis.LicenceListCreateApi.as_view(), name="licences"),
    path("api/v1/licences/<str:key>", licence_apis.LicenceDetailApi.as_view(), name="licence-detail"),
    path("api/v1/licences/<str:key>/reset", licence_apis.LicenceResetApi.as_view(), name="licence-reset"),
]
