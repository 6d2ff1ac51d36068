"""Fixtures of the adversarial tests: the real service (the project's WSGI application over the test database
and Redis, as gunicorn serves it) and one principal per role.

- employee: reads and writes their own collection, which holds an ingested document, a conversation and an
  answer; there is another employee ("other") with a collection, document, conversation and answer of their own
  that nobody else may reach;
- compliance officer: in the "Compliance officers" group, no grants;
- admin: staff and superuser, no grants;
- API key: search, ask and upload on the employee's collection only.

The language model is "down": LLM_BASE_URL points at a loopback port where nothing listens, so questions are
answered 503 ("the model is not reachable") — the product's answer when vLLM is down — and no model server is
started for the thousands of examples.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.schemas import OpenApiSchema

from config.wsgi import application
from governance.apikeys import api_key_create
from governance.audit import SYSTEM
from governance.roles import COMPLIANCE_GROUP
from rag.models import Answer, Collection, Conversation, Document
from tests.conftest import with_inventory
from tests.rag.helpers import ingest_bytes

TEXT = (
    b"Travel policy. Employees book trains for trips under 500 km. Hotel costs are refunded up to the "
    b"city limit. Ask the travel desk for exceptions.\n"
)
OTHER_TEXT = b"Salary bands 2026. Band C starts at the amount agreed with the works council.\n"


@dataclass
class Principal:
    role: str
    user: Any
    authorization: str  # the Authorization header value

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": self.authorization}


@dataclass
class World:
    """The principals and the objects the access checks are about."""

    principals: dict[str, Principal]
    own_collection: Collection
    own_document: Document
    own_conversation: Conversation
    own_answer: Answer
    other_collection: Collection
    other_document: Document
    other_conversation: Conversation
    other_answer: Answer
    ids: dict[str, int] = field(default_factory=dict)


def _token(user: Any) -> str:
    token, _ = Token.objects.get_or_create(user=user)
    return f"Token {token.key}"


def _conversation(user: Any, question: str) -> tuple[Conversation, Answer]:
    conversation = Conversation.objects.create(user=user, title=question[:200])
    answer = Answer.objects.create(conversation=conversation, question=question, text="An answer.")
    return conversation, answer


@pytest.fixture
def model_down(settings: Any) -> str:
    """LLM_BASE_URL at a loopback port where nothing listens: every model call fails fast (connection
    refused), as when the vLLM server is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.LLM_BASE_URL = f"http://127.0.0.1:{port}/v1"
    return str(settings.LLM_BASE_URL)


@pytest.fixture
def world(db: Any, django_user_model: Any, model_down: str) -> World:
    users = {
        name: django_user_model.objects.create_user(username=f"adv-{name}", password=f"pw-{name}-123")
        for name in ("employee", "other", "officer", "admin")
    }
    users["officer"].groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    admin = users["admin"]
    admin.is_staff = admin.is_superuser = True
    admin.save(update_fields=["is_staff", "is_superuser"])

    own = with_inventory(Collection.objects.create(name="adv-own", owner=users["employee"]))
    other = with_inventory(Collection.objects.create(name="adv-other", owner=users["other"]))
    own_document = ingest_bytes(own, users["employee"], TEXT, "travel.txt")
    other_document = ingest_bytes(other, users["other"], OTHER_TEXT, "salaries.txt")
    own_conversation, own_answer = _conversation(users["employee"], "Trains or planes?")
    other_conversation, other_answer = _conversation(users["other"], "Which band am I in?")
    _key, secret = api_key_create(
        name="adv-key",
        collection_ids=[own.pk],
        actions=["search", "ask", "upload"],
        created_by=admin,
        actor=SYSTEM,
    )
    principals = {
        "employee": Principal("employee", users["employee"], _token(users["employee"])),
        "officer": Principal("officer", users["officer"], _token(users["officer"])),
        "admin": Principal("admin", admin, _token(admin)),
        "api_key": Principal("api_key", _key.service_user, f"Api-Key {secret}"),
    }
    return World(
        principals=principals,
        own_collection=own,
        own_document=own_document,
        own_conversation=own_conversation,
        own_answer=own_answer,
        other_collection=other,
        other_document=other_document,
        other_conversation=other_conversation,
        other_answer=other_answer,
    )


@pytest.fixture
def wsgi_app(db: Any) -> Iterator[Any]:
    """The project's WSGI application, as gunicorn serves it. Like Django's test client, it keeps the test's
    database connection open between requests (Django closes it at the end of each request, which would end
    the test's transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield application
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(wsgi_app: Any) -> OpenApiSchema:
    """/api/schema/ as the service serves it, bound to the service (calls go through the WSGI app)."""
    return schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app, config=FUZZ_CONFIG)


# Seeded and bounded: the same cases on every run (a failure reproduces), and a budget that keeps the four
# role runs to a couple of minutes on a loaded 2-core machine. The coverage phase adds schemathesis's
# deterministic boundary and malformed values (wrong types, empty, huge) for every parameter.
FUZZ_CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "seed": 13,
        "generation": {"max-examples": 12, "deterministic": True, "mode": "all"},
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": False},
            "stateful": {"enabled": False},
        },
    }
)


@pytest.fixture
def portal(world: World) -> Callable[[str], Client]:
    """A signed-in browser session (Django's test client) for a user role."""

    def make(role: str) -> Client:
        client = Client()
        client.force_login(world.principals[role].user)
        return client

    return make


@pytest.fixture
def api(world: World) -> Iterator[Callable[[str], Client]]:
    def make(role: str) -> Client:
        return Client(headers=world.principals[role].headers)

    yield make


@pytest.fixture(autouse=True)
def _schemathesis_node_id(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32's lazy loader (schemathesis.pytest.from_fixture) reads and renames ``node._nodeid``,
    # which pytest 9.2 calls ``_id``: give it the attribute it expects (it only names the subtests).
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid
