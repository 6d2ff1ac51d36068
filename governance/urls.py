"""Routes of the governance layer: grants, API keys, personal tokens, redaction policies, the audit trail, and
the compliance section (records of processing, data-subject requests, retention), as portal pages and REST
API."""

from django.urls import path

from governance import apis, audit_apis, compliance_apis, compliance_views, evaluation_apis, views

api_v1 = [
    path("api/v1/collections/<int:collection_id>/grants", apis.GrantListCreateApi.as_view(), name="grants"),
    path(
        "api/v1/collections/<int:collection_id>/grants/<int:grant_id>",
        apis.GrantDetailApi.as_view(),
        name="grant-detail",
    ),
    path("api/v1/api-keys", apis.ApiKeyListCreateApi.as_view(), name="api-keys"),
    path("api/v1/api-keys/<int:key_id>", apis.ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path("api/v1/tokens", apis.TokenListCreateApi.as_view(), name="tokens"),
    path("api/v1/tokens/<int:token_id>", apis.TokenDetailApi.as_view(), name="token-detail"),
    path("api/v1/audit/events", audit_apis.AuditEventListApi.as_view(), name="audit-events"),
    path("api/v1/audit/verify", audit_apis.AuditVerifyApi.as_view(), name="audit-verify"),
    path("api/v1/audit/export", audit_apis.AuditExportApi.as_view(), name="audit-export"),
    path("api/v1/pii/analyze", apis.PiiAnalyzeApi.as_view(), name="pii-analyze"),
    path(
        "api/v1/collections/<int:collection_id>/redaction-policy",
        apis.RedactionPolicyApi.as_view(),
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
    path(
        "api/v1/evaluation-sets", evaluation_apis.EvaluationSetListCreateApi.as_view(), name="evaluation-sets"
    ),
    path(
        "api/v1/evaluation-sets/<int:set_id>/runs",
        evaluation_apis.EvaluationRunCreateApi.as_view(),
        name="evaluation-runs",
    ),
    path(
        "api/v1/evaluation-items/<int:item_id>",
        evaluation_apis.EvaluationItemApi.as_view(),
        name="evaluation-item",
    ),
    path(
        "api/v1/evaluation-runs/<int:run_id>",
        evaluation_apis.EvaluationRunDetailApi.as_view(),
        name="evaluation-run",
    ),
    path(
        "api/v1/evaluation-runs/<int:run_a>/compare/<int:run_b>",
        evaluation_apis.EvaluationCompareApi.as_view(),
        name="evaluation-compare",
    ),
]

urlpatterns = [
    path("compliance/", views.compliance_log, name="compliance"),
    path("compliance/events/<int:seq>/", views.compliance_event, name="compliance-event"),
    path("collections/<int:collection_id>/privacy/", views.collection_privacy, name="privacy"),
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
    *api_v1,
]
