from django.contrib import admin
from django.urls import path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from rag import answer_apis, apis

handler404 = "config.api_errors.handler404"
handler500 = "config.api_errors.handler500"

api_v1 = [
    path("api/v1/collections", apis.CollectionListCreateApi.as_view(), name="collections"),
    path("api/v1/documents", apis.DocumentListCreateApi.as_view(), name="documents"),
    path("api/v1/documents/<int:document_id>", apis.DocumentDetailApi.as_view(), name="document-detail"),
    path("api/v1/search", apis.SearchApi.as_view(), name="search"),
    path("api/v1/ask", answer_apis.AskApi.as_view(), name="ask"),
    path("api/v1/conversations", answer_apis.ConversationListApi.as_view(), name="conversations"),
    path(
        "api/v1/conversations/<int:conversation_id>",
        answer_apis.ConversationDetailApi.as_view(),
        name="conversation-detail",
    ),
    path(
        "api/v1/answers/<int:answer_id>/feedback",
        answer_apis.AnswerFeedbackApi.as_view(),
        name="answer-feedback",
    ),
    path("api/v1/health", apis.HealthApi.as_view(), name="health"),
]

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    *api_v1,
]
