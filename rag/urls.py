"""Routes of the document domain: the portal pages and the REST API for collections, documents, search,
questions and conversations."""

from django.urls import path

from rag import answer_apis, apis, views

api_v1 = [
    path("api/v1/collections", apis.CollectionListCreateApi.as_view(), name="collections"),
    path("api/v1/documents", apis.DocumentListCreateApi.as_view(), name="api-documents"),
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
    path("", views.ask, name="home"),
    path("c/<int:conversation_id>/", views.ask, name="conversation"),
    path("documents/", views.documents, name="documents"),
    path("documents/<int:document_id>/", views.document_detail, name="document"),
    path("upload/", views.upload, name="upload"),
    *api_v1,
]
