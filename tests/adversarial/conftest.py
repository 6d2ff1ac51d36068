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
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from schemathesis.specs.openapi.schemas import OpenApiSchema

from config.wsgi import application
from governance.apikeys import api_key_create
from governance.audit import SYSTEM
from governance.models import PersonalToken
from governance.roles import COMPLIANCE_GROUP
from governance.tokens import token_secret_new
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


def _token(user: Any) -> str:
    prefix, secret, key_hash = token_secret_new()
    PersonalToken.objects.create(user=user, prefix=prefix, key_hash=key_hash)
    return f"Token {secret}"


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
def principals(db: Any, django_user_model: Any, model_down: str) -> dict[str, Principal]:
    """One principal per role, and "other", an employee whose objects nobody else may reach."""
    users = {
        name: django_user_model.objects.create_user(username=f"adv-{name}", password=f"pw-{name}-123")
        for name in ("employee", "other", "officer", "admin")
    }
    users["officer"].groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    admin = users["admin"]
    admin.is_staff = admin.is_superuser = True
    admin.save(update_fields=["is_staff", "is_superuser"])
    own = with_inventory(Collection.objects.create(name="adv-own", owner=users["employee"]))
    with_inventory(Collection.objects.create(name="adv-other", owner=users["other"]))
    key, secret = api_key_create(
        name="adv-key",
        collection_ids=[own.pk],
        actions=["search", "ask", "upload"],
        # The collection's owner: a key is only for collections its creator manages and holds (issue 13).
        created_by=users["employee"],
        actor=SYSTEM,
        # The fuzzing sends a few hundred requests a minute: a 429 after the default 120 would hide the rest.
        rate="100000/min",
    )
    return {
        **{name: Principal(name, user, _token(user)) for name, user in users.items()},
        "api_key": Principal("api_key", key.service_user, f"Api-Key {secret}"),
    }


@pytest.fixture
def world(principals: dict[str, Principal]) -> World:
    """The principals, with an ingested document, a conversation and an answer in each employee's collection."""
    employee, other = principals["employee"].user, principals["other"].user
    own = Collection.objects.get(name="adv-own")
    other_collection = Collection.objects.get(name="adv-other")
    own_document = ingest_bytes(own, employee, TEXT, "travel.txt")
    other_document = ingest_bytes(other_collection, other, OTHER_TEXT, "salaries.txt")
    own_conversation, own_answer = _conversation(employee, "Trains or planes?")
    other_conversation, other_answer = _conversation(other, "Which band am I in?")
    return World(
        principals=principals,
        own_collection=own,
        own_document=own_document,
        own_conversation=own_conversation,
        own_answer=own_answer,
        other_collection=other_collection,
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
def portal(principals: dict[str, Principal]) -> Callable[[str], Client]:
    """A signed-in browser session (Django's test client) for a user role."""

    def make(role: str) -> Client:
        client = Client()
        client.force_login(principals[role].user)
        return client

    return make


@pytest.fixture
def api(principals: dict[str, Principal]) -> Callable[[str], Client]:
    """An API client with the role's credentials (a token, or the API key)."""

    def make(role: str) -> Client:
        return Client(headers=principals[role].headers)

    return make


@pytest.fixture(autouse=True)
def _schemathesis_node_id(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32's lazy loader (schemathesis.pytest.from_fixture) reads and renames ``node._nodeid``,
    # which pytest 9.2 calls ``_id``: give it the attribute it expects (it only names the subtests).
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid
