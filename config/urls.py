from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from governance import apis as governance_apis
from governance import audit_apis, compliance_apis, compliance_views
from governance import views as governance_views
from rag import answer_apis, apis, views

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
    path(
        "api/v1/collections/<int:collection_id>/grants",
        governance_apis.GrantListCreateApi.as_view(),
        name="grants",
    ),
    path(
        "api/v1/collections/<int:collection_id>/grants/<int:grant_id>",
        governance_apis.GrantDetailApi.as_view(),
        name="grant-detail",
    ),
    path("api/v1/api-keys", governance_apis.ApiKeyListCreateApi.as_view(), name="api-keys"),
    path("api/v1/api-keys/<int:key_id>", governance_apis.ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path("api/v1/audit/events", audit_apis.AuditEventListApi.as_view(), name="audit-events"),
    path("api/v1/audit/verify", audit_apis.AuditVerifyApi.as_view(), name="audit-verify"),
    path("api/v1/audit/export", audit_apis.AuditExportApi.as_view(), name="audit-export"),
    path("api/v1/pii/analyze", governance_apis.PiiAnalyzeApi.as_view(), name="pii-analyze"),
    path(
        "api/v1/collections/<int:collection_id>/redaction-policy",
        governance_apis.RedactionPolicyApi.as_view(),
        name="redaction-policy",
    ),
    path(
        "api/v1/collections/<int:collection_id>/inventory",
        compliance_apis.CollectionInventoryApi.as_view(),
        name="collection-inventory",
    ),
    path("api/v1/inventory", compliance_apis.InventoryExportApi.as_view(), name="inventory"),
    path(
        "api/v1/subject-requests",
        compliance_apis.SubjectRequestListCreateApi.as_view(),
        name="subject-requests",
    ),
    path(
        "api/v1/subject-requests/<int:request_id>",
        compliance_apis.SubjectRequestDetailApi.as_view(),
        name="subject-request-detail",
    ),
    path(
        "api/v1/subject-requests/<int:request_id>/<str:action>",
        compliance_apis.SubjectRequestActionApi.as_view(),
        name="subject-request-action",
    ),
    path("api/v1/retention/preview", compliance_apis.RetentionPreviewApi.as_view(), name="retention-preview"),
    path("api/v1/retention/run", compliance_apis.RetentionRunApi.as_view(), name="retention-run"),
    path(
        "api/v1/retention/records",
        compliance_apis.DestructionRecordListApi.as_view(),
        name="destruction-records",
    ),
    path("api/v1/health", apis.HealthApi.as_view(), name="health"),
]

urlpatterns = [
    path("", views.ask, name="home"),
    path("c/<int:conversation_id>/", views.ask, name="conversation"),
    path("documents/", views.documents, name="documents"),
    path("documents/<int:document_id>/", views.document_detail, name="document"),
    path("upload/", views.upload, name="upload"),
    path("compliance/", governance_views.compliance_log, name="compliance"),
    path("compliance/events/<int:seq>/", governance_views.compliance_event, name="compliance-event"),
    path("collections/<int:collection_id>/privacy/", governance_views.collection_privacy, name="privacy"),
    path(
        "collections/<int:collection_id>/processing/",
        compliance_views.collection_processing,
        name="processing",
    ),
    path("compliance/inventory/", compliance_views.compliance_inventory, name="compliance-inventory"),
    path("compliance/requests/", compliance_views.compliance_requests, name="compliance-requests"),
    path(
        "compliance/requests/<int:request_id>/",
        compliance_views.compliance_request,
        name="compliance-request",
    ),
    path("compliance/retention/", compliance_views.compliance_retention, name="compliance-retention"),
    path("login/", auth_views.LoginView.as_view(template_name="portal/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    *api_v1,
]
