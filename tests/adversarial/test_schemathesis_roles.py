"""schemathesis over /api/schema/, against the real service (the WSGI application, the test database, Redis),
as an employee, a compliance officer, an administrator, an API key and nobody (no credentials).

Every generated request — valid ones, and malformed ones (wrong types, missing or extra fields, boundary
values) — must get an answer the schema documents, never a server error; and on the operations a role must be
refused, never a 2xx. The only 5xx allowed is 503 where the schema says so (the model server is down, see
conftest.model_down; the health probe reports it).

A second test sends every operation that takes an object id the ids of *another* employee's collection,
document, conversation and answer: nobody but their owner (and, for managing a collection's access and
records of processing, an administrator or a compliance officer) gets a 2xx.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckContext
from schemathesis.core.failures import CustomFailure, ServerError
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.adversarial.conftest import World

schema = schemathesis.pytest.from_fixture("api_schema")

ADMIN_ONLY = {
    "GET /api/v1/api-keys",
    "POST /api/v1/api-keys",
    "DELETE /api/v1/api-keys/{key_id}",
    "GET /api/v1/models",
    "POST /api/v1/models",
    "GET /api/v1/models/{model_id}",
    "PATCH /api/v1/models/{model_id}",
    "DELETE /api/v1/models/{model_id}",
    "POST /api/v1/models/fit",
    "GET /api/v1/declared-use",
    "PUT /api/v1/declared-use",
    "GET /api/v1/licences",
    "POST /api/v1/licences",
    "GET /api/v1/licences/{key}",
    "PUT /api/v1/licences/{key}",
    "DELETE /api/v1/licences/{key}",
    "POST /api/v1/licences/{key}/reset",
}
OFFICERS_ONLY = {
    "GET /api/v1/audit/events",
    "GET /api/v1/audit/verify",
    "GET /api/v1/audit/export",
    "GET /api/v1/subject-requests",
    "POST /api/v1/subject-requests",
    "GET /api/v1/subject-requests/{request_id}",
    "POST /api/v1/subject-requests/{request_id}/{action}",
    "GET /api/v1/retention/preview",
    "POST /api/v1/retention/run",
    "GET /api/v1/retention/records",
}
# Compliance officers and administrators; employees and API keys are refused.
EVALUATION = {
    "GET /api/v1/evaluation-sets",
    "POST /api/v1/evaluation-sets",
    "POST /api/v1/evaluation-sets/{set_id}/runs",
    "GET /api/v1/evaluation-runs/{run_id}",
    "GET /api/v1/evaluation-runs/{run_a}/compare/{run_b}",
    "PATCH /api/v1/evaluation-items/{item_id}",
}
# What an API key may do: the actions it holds (search, ask, upload) on the collections in its scope.
API_KEY_ALLOWED = {
    "GET /api/v1/collections",
    "GET /api/v1/documents",
    "POST /api/v1/documents",
    "GET /api/v1/documents/{document_id}",
    "DELETE /api/v1/documents/{document_id}",
    "POST /api/v1/search",
    "POST /api/v1/ask",
    "GET /api/v1/conversations",
    "GET /api/v1/conversations/{conversation_id}",
    "POST /api/v1/answers/{answer_id}/feedback",
    "GET /api/v1/health",
}

# Operations each role must be refused, whatever the input.
REFUSED: dict[str, set[str]] = {
    "employee": ADMIN_ONLY
    | OFFICERS_ONLY
    | EVALUATION
    | {"GET /api/v1/inventory", "PUT /api/v1/collections/{collection_id}/redaction-policy"},
    "officer": ADMIN_ONLY | {"PUT /api/v1/collections/{collection_id}/redaction-policy"},
    "admin": OFFICERS_ONLY,
    "api_key": set(),  # everything outside API_KEY_ALLOWED (must_refuse)
    "anonymous": set(),  # everything but the health probe (must_refuse)
}

PRINCIPALS = ("employee", "officer", "admin", "api_key")
ROLES = (*PRINCIPALS, "anonymous")

# The documented 5xx: the model server is unreachable (ask), or a component is down (health).
MODEL_DOWN = {"POST /api/v1/ask", "GET /api/v1/health"}


def _label(case: Case) -> str:
    # The method sent: the coverage phase also tries methods the operation does not have (405, OPTIONS).
    return f"{case.method.upper()} {case.operation.path}"


def must_refuse(role: str, label: str) -> bool:
    if role == "api_key":
        return label not in API_KEY_ALLOWED
    if role == "anonymous":
        return label != "GET /api/v1/health"
    return label in REFUSED[role]


def no_server_error(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    if response.status_code >= 500 and not (response.status_code == 503 and _label(case) in MODEL_DOWN):
        raise ServerError(operation=case.operation.label, status_code=response.status_code)
    return None


def refused_for(role: str) -> Any:
    def refused(ctx: CheckContext, response: Response, case: Case) -> bool | None:
        if must_refuse(role, _label(case)) and 200 <= response.status_code < 300:
            raise CustomFailure(
                operation=case.operation.label,
                title=f"{role} was not refused",
                message=f"{_label(case)} answered {response.status_code} to a {role}; it must be refused.",
                exception=AssertionError(),
            )
        return None

    refused.__name__ = f"refused_for_{role}"
    return refused


CHECKS = [no_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
REFUSAL_CHECKS = {role: refused_for(role) for role in ROLES}


# Seeded (derandomize) and bounded (max-examples in conftest.FUZZ_CONFIG). Health checks are off: examples are
# slow on a loaded machine, and the function-scoped ``world`` is shared by all examples on purpose.
@settings(derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@schema.parametrize()
def test_every_role_gets_documented_answers_never_a_server_error_nor_a_forbidden_2xx(
    case: Case, world: World
) -> None:
    # Each generated request is sent once per role: generating cases costs more than answering them, and the
    # same input under each identity (and none) is exactly what tells a missing permission check apart.
    for role in ROLES:
        headers = world.principals[role].headers if role != "anonymous" else {}
        case.call_and_validate(headers=headers, checks=[*CHECKS, REFUSAL_CHECKS[role]])


@pytest.mark.parametrize("role", PRINCIPALS)
def test_every_principal_is_signed_in(world: World, api: Any, role: str) -> None:
    """Else the fuzzing above would only ever see 401s."""
    response = api(role).get("/api/v1/collections")
    assert response.status_code == 200, response.content
    names = {c["name"] for c in response.json()["results"]}
    assert ("adv-own" in names) == (role in {"employee", "api_key"})


def test_refusal_tables_name_real_operations(api_schema: Any) -> None:
    """A renamed route must not silently drop out of the refusal tables."""
    labels = {f"{op.ok().method.upper()} {op.ok().path}" for op in api_schema.get_all_operations()}
    named = ADMIN_ONLY | OFFICERS_ONLY | API_KEY_ALLOWED | MODEL_DOWN
    for refused in REFUSED.values():
        named |= refused
    assert named <= labels, named - labels


# --- another user's objects ---------------------------------------------------------------------------------


def _foreign_requests(world: World) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Requests about the other employee's objects, with valid bodies: only the object is wrong."""
    c, d = world.other_collection.pk, world.other_document.pk
    conv, ans = world.other_conversation.pk, world.other_answer.pk
    return [
        ("GET", f"/api/v1/documents/{d}", None),
        ("DELETE", f"/api/v1/documents/{d}", None),
        ("GET", f"/api/v1/documents?collection={c}", None),
        ("GET", f"/api/v1/conversations/{conv}", None),
        ("POST", f"/api/v1/answers/{ans}/feedback", {"rating": "up"}),
        ("POST", "/api/v1/search", {"query": "salary band", "collections": [str(c)]}),
        ("POST", "/api/v1/ask", {"question": "Which band?", "collections": [str(c)]}),
        ("POST", "/api/v1/ask", {"question": "Which band?", "conversation_id": conv}),
        ("GET", f"/api/v1/collections/{c}/redaction-policy", None),
        ("PUT", f"/api/v1/collections/{c}/redaction-policy", {"rules": {"EMAIL": "keep"}}),
        ("GET", f"/api/v1/collections/{c}/grants", None),
        ("POST", f"/api/v1/collections/{c}/grants", {"user": "adv-employee", "permission": "read"}),
        ("GET", f"/api/v1/collections/{c}/inventory", None),
        ("PUT", f"/api/v1/collections/{c}/inventory", {"purpose": "Taken over"}),
        ("POST", "/api/v1/pii/analyze", {"text": "hello", "collection": c}),
    ]


# Who may reach another user's collection without a grant, by design: administrators manage every
# collection's access (grants); administrators and compliance officers keep the records of processing.
BY_DESIGN = {
    "admin": {"/grants", "/inventory"},
    "officer": {"/inventory"},
}


@pytest.mark.parametrize("role", PRINCIPALS)
def test_nobody_reaches_another_users_objects(world: World, api: Any, role: str) -> None:
    client = api(role)
    reached = []
    for method, path, body in _foreign_requests(world):
        if any(path.split("?")[0].endswith(suffix) for suffix in BY_DESIGN.get(role, set())):
            continue
        response = client.generic(
            method, path, data=b"" if body is None else json.dumps(body), content_type="application/json"
        )
        assert response.status_code < 500, (method, path, response.status_code, response.content[:300])
        if 200 <= response.status_code < 300:
            reached.append((method, path, response.status_code))
    # Uploading into it (multipart, like the portal and ingestion systems).
    upload = client.post(
        "/api/v1/documents",
        {"collection": str(world.other_collection.pk), "file": SimpleUploadedFile("x.txt", b"planted")},
    )
    assert upload.status_code in {403, 404}, upload.content
    assert reached == [], f"a {role} reached another user's objects: {reached}"
