"""Malformed query parameters are a 400 with the reason, never a 500 (nor Django's debug page): every query
parameter of the API and the portal is parsed by a serializer or a form.

The classes of malformed input: digits that ``str.isdigit`` accepts and ``int`` refuses ("²"), NUL characters
(PostgreSQL cannot store or compare them), numbers past a bigint, values outside a parameter's choices, and the
model being down when a question is asked (503, not 500).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.audit.selectors import FILTERS
from rag.models import Collection
from tests.adversarial.conftest import World

NUL = "\x00"
HUGE = str(10**30)


# --- the portal ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {
            "before_seq": "²"
        },  # the example: isdigit() says yes, int() says no — a 500 with a debug page
        {"before_seq": HUGE},
        {"before_seq": "-3"},
        {"role": NUL},
        {"action": f"document{NUL}"},
        {"correlation_id": NUL},
        {"target": f"answer:{NUL}"},
        {"collection": "²"},
        {"actor": "key:²"},
        {"from": "2026-02-31"},
    ],
)
def test_audit_log_page_answers_malformed_filters_with_400_and_the_reason(
    portal: Any, query: dict[str, str]
) -> None:
    response = portal("officer").get("/compliance/", query)
    assert response.status_code == 400
    assert b'role="alert"' in response.content  # the page, with the reason above an empty table


PARAMS = [*FILTERS, "before_seq", "limit"]


@settings(max_examples=40, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(query=st.dictionaries(st.sampled_from(PARAMS), st.text(max_size=30), max_size=4))
def test_audit_log_page_and_api_answer_any_filters_with_200_or_400(
    portal: Any, api: Any, query: dict[str, str]
) -> None:
    """Whatever the values: a page or a 400 with the reason, never a 500."""
    page = portal("officer").get("/compliance/", query)
    assert page.status_code in {200, 400}, (query, page.status_code)
    answer = api("officer").get("/api/v1/audit/events", query)
    assert answer.status_code in {200, 400}, (query, answer.status_code)
    assert (page.status_code == 400) == (answer.status_code == 400), query  # one parser for both


def test_audit_log_page_still_pages_back_with_a_valid_before_seq(portal: Any) -> None:
    client = portal("officer")
    assert client.get("/compliance/", {"before_seq": "5", "role": "employee"}).status_code == 200
    # The filter form submits every field, the empty ones blank.
    assert client.get("/compliance/", dict.fromkeys(FILTERS, "")).status_code == 200


@pytest.mark.parametrize("ref", [NUL, f"adv-own{NUL}", "x" * 300])
def test_documents_page_answers_a_malformed_collection_with_400(portal: Any, ref: str) -> None:
    assert portal("employee").get("/documents/", {"collection": ref}).status_code == 400


def test_documents_page_filters_by_collection_id_or_name(portal: Any) -> None:
    client = portal("employee")
    own = Collection.objects.get(name="adv-own")
    assert client.get("/documents/", {"collection": str(own.pk)}).status_code == 200
    assert client.get("/documents/", {"collection": "adv-own"}).status_code == 200
    assert client.get("/documents/", {"collection": "²"}).status_code == 404  # a name nobody has


# --- the API ---------------------------------------------------------------------------------------------------


def _error(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["detail"]
    return body


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"before_seq": "²"}, "before_seq"),
        ({"before_seq": HUGE}, "before_seq"),
        ({"before_seq": "0"}, "before_seq"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"collection": "²"}, "collection"),
        ({"collection": HUGE}, "collection"),
        ({"role": NUL}, "role"),
        ({"outcome": NUL}, "outcome"),
        ({"action": NUL}, "action"),
        ({"target": NUL}, "target"),
        ({"correlation_id": NUL}, "correlation_id"),
        ({"actor": f"key:{NUL}"}, "actor"),
    ],
)
def test_audit_events_api_answers_malformed_filters_with_400_naming_the_field(
    api: Any, query: dict[str, str], field: str
) -> None:
    body = _error(api("officer").get("/api/v1/audit/events", query))
    assert field in body.get("errors", {}) or field in body["detail"]


@pytest.mark.parametrize("query", [{"actor": "key:abc"}, {"actor": "alice"}, {"from": "yesterday"}])
def test_audit_events_api_answers_unparsable_filters_with_400(api: Any, query: dict[str, str]) -> None:
    _error(api("officer").get("/api/v1/audit/events", query))


def test_audit_events_api_pages_with_valid_parameters(api: Any) -> None:
    response = api("officer").get("/api/v1/audit/events", {"limit": "2", "before_seq": HUGE[:18]})
    assert response.status_code == 200
    assert len(response.json()["results"]) <= 2


@pytest.mark.parametrize(
    "query", [{"type": "xml"}, {"first_seq": "²"}, {"last_seq": HUGE}, {"first_seq": "0"}, {"type": NUL}]
)
def test_audit_export_api_answers_malformed_parameters_with_400(api: Any, query: dict[str, str]) -> None:
    _error(api("officer").get("/api/v1/audit/export", query))


@pytest.mark.parametrize("query", [{"status": NUL}, {"status": "lost"}, {"overdue": "maybe"}])
def test_subject_request_list_answers_malformed_filters_with_400(api: Any, query: dict[str, str]) -> None:
    _error(api("officer").get("/api/v1/subject-requests", query))


def test_subject_request_list_filters_by_status_and_overdue(api: Any) -> None:
    response = api("officer").get("/api/v1/subject-requests", {"status": "completed", "overdue": "true"})
    assert response.status_code == 200


@pytest.mark.parametrize("query", [{"type": "xml"}, {"type": NUL}])
def test_inventory_export_answers_a_malformed_type_with_400(api: Any, query: dict[str, str]) -> None:
    _error(api("admin").get("/api/v1/inventory", query))


@pytest.mark.parametrize("ref", [NUL, f"adv-own{NUL}", "x" * 300])
def test_document_list_answers_a_malformed_collection_with_400(api: Any, ref: str) -> None:
    _error(api("employee").get("/api/v1/documents", {"collection": ref}))


def test_asking_while_the_model_is_down_is_a_503_with_a_message(world: World, api: Any) -> None:
    """conftest.model_down: nothing listens at LLM_BASE_URL. The product answers 503, never a 500 (the
    employee's collection holds a relevant passage, so the model is called)."""
    response = api("employee").post(
        "/api/v1/ask", {"question": "Do I book a train for a 300 km trip?"}, content_type="application/json"
    )
    assert response.status_code == 503, response.content
    assert "not reachable" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/api/v1/inventory", "/api/v1/audit/events", "/api/v1/collections"])
def test_options_describes_no_view_to_anybody(api: Any, path: str) -> None:
    # OPTIONS metadata would hand a signed-in employee the names, docstrings and fields of views that refuse
    # them (inventory export, redaction policies): answered 405 for everybody, like any method not served.
    for role in ("employee", "admin"):
        response = api(role).options(path)
        assert response.status_code in (401, 403, 405), (role, path, response.status_code)
        assert b"description" not in response.content and b"renders" not in response.content
