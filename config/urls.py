"""The project's routes: each app's own (rag/urls.py, governance/urls.py), sign-in, the admin, the API schema."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

handler404 = "config.api_errors.handler404"
handler500 = "config.api_errors.handler500"

urlpatterns = [
    path("", include("rag.urls")),
    path("", include("governance.urls")),
    path("", include("inference.urls")),
    path("login/", auth_views.LoginView.as_view(template_name="portal/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's initialisation script from its own URL (?script), not inline: the
    # Content-Security-Policy allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
]
