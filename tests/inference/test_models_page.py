"""The portal's Models section (inference/views.py, inference/evaluation_views.py): administrators only; the
registry with verdicts and the serving gate; the declared-use and register forms through the audited services;
a model's hardware fit; evaluation sets and runs; two runs compared with inline SVG charts; in Turkish too."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from governance.models import AuditEvent, EvaluationItem, EvaluationResult, EvaluationRun, EvaluationSet
from governance.roles import COMPLIANCE_GROUP
from inference import gate
from inference.licence_data import licence_from_values
from inference.local_server import MODEL_NAME
from inference.model_evaluations import model_evaluated
from inference.models import RegisteredModel
from inference.registry import (
    entry_values,
    licence_get,
    licence_store,
    model_for_served_name,
    model_register,
)
from rag.models import Answer, Citation, Collection, Conversation, Document
from tests.conftest import bundled_model_registered, with_inventory

pytestmark = pytest.mark.django_db

# Llama-3.1-8B's published config.json (inference/hardware_presets.py), as facts of a GPU model registered
# without its weights on this host.
LLAMA_FACTS = {
    "params": "8030261248",
    "layers": "32",
    "hidden_size": "4096",
    "heads": "32",
    "kv_heads": "8",
    "head_dim": "128",
    "context_length": "131072",
    "embedding_params": "1050673152",
}
REGISTER = {
    "action": "register",
    "served_name": "llama-8b",
    "licence_id": "llama-3.1-community",
    "family": "meta-llama/Llama-3.1-8B-Instruct",
    "quantization": "bf16",
    "weights_path": "",
    "weights_published": "yes",
    "code_published": "partly",
    "data_published": "no",
}
DECLARED = {
    "action": "declared_use",
    "internal_commercial_use": "on",
    "monthly_active_users": "1000",
    "sector": "",
}


@pytest.fixture(autouse=True)
def _model_server_down(settings: Any, db: Any) -> None:
    """The bundled model registered as on a fresh install, and nothing listening where the model server should
    be: the pages must say so, not fail."""
    bundled_model_registered()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.LLM_BASE_URL = f"http://127.0.0.1:{port}/v1"
    gate.cache_clear()


@pytest.fixture
def admin(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("root", password="x", is_staff=True)  # noqa: S106


@pytest.fixture
def officer(carol: Any) -> Any:
    carol.groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    return carol


def portal(user: Any, **headers: Any) -> Client:
    client = Client(**headers)
    client.force_login(user)
    return client


@pytest.fixture
def smol() -> RegisteredModel:
    model = model_for_served_name(MODEL_NAME)
    assert model is not None
    return model


@pytest.fixture
def two_runs(admin: Any, alice: Any) -> tuple[EvaluationRun, EvaluationRun]:
    collection = with_inventory(Collection.objects.create(name="Handbook", owner=alice))
    evaluation_set = EvaluationSet.objects.create(collection=collection, name="Kestrel set", created_by=admin)
    fact = EvaluationItem.objects.create(
        evaluation_set=evaluation_set,
        question="What is the launch code?",
        expected_document_ids=[1],
        expected_fact="BLUEFIN-4471",
    )
    absent = EvaluationItem.objects.create(
        evaluation_set=evaluation_set, question="Who won the 1998 cup?", not_in_documents=True
    )
    runs = []
    for model, recall, answer_fact, ms in (("smollm2-135m", 1.0, False, 900), ("llama-8b", 1.0, True, 400)):
        run = EvaluationRun.objects.create(
            evaluation_set=evaluation_set,
            model=model,
            settings_snapshot={"LLM_MODEL": model, "ANSWER_SOURCES": 5},
            status=EvaluationRun.Status.COMPLETE,
            run_as=admin,
            totals={
                "items": 2,
                "errors": 0,
                "recall_at_k": recall,
                "mrr": 1.0,
                "citation_has_fact": 1.0,
                "answer_has_fact": 1.0 if answer_fact else 0.0,
                "correct_not_found": 1.0,
                "ttft_ms": ms / 2,
                "total_ms": ms,
                "prompt_tokens": 300,
                "completion_tokens": 40,
            },
        )
        EvaluationResult.objects.create(
            run=run,
            item=fact,
            recall_at_k=recall,
            reciprocal_rank=1.0,
            citation_has_fact=True,
            answer_has_fact=answer_fact,
            total_ms=ms,
        )
        EvaluationResult.objects.create(
            run=run, item=absent, not_found=True, correct_not_found=True, total_ms=ms // 3
        )
        runs.append(run)
    return runs[0], runs[1]


def _pages(smol: RegisteredModel, runs: tuple[EvaluationRun, EvaluationRun]) -> list[str]:
    a, b = runs
    return [
        "/models/",
        f"/models/{smol.pk}/",
        "/models/evaluation/",
        f"/models/evaluation/compare/{a.pk}/{b.pk}/",
        f"/models/evaluation/compare/?run_a={a.pk}&run_b={b.pk}",
    ]


def test_an_administrator_sees_every_page(admin: Any, smol: RegisteredModel, two_runs: Any) -> None:
    client = portal(admin)
    for url in _pages(smol, two_runs):
        response = client.get(url)
        assert response.status_code in {200, 302}, (url, response.status_code)
    a, b = two_runs
    assert client.get(f"/models/evaluation/compare/?run_a={a.pk}&run_b={b.pk}")["Location"] == (
        f"/models/evaluation/compare/{a.pk}/{b.pk}/"
    )


def test_employees_and_compliance_officers_are_refused_and_anonymous_sent_to_sign_in(
    alice: Any, officer: Any, smol: RegisteredModel, two_runs: Any
) -> None:
    for url in _pages(smol, two_runs):
        for user in (alice, officer):
            assert portal(user).get(url).status_code == 403, url
        anonymous = Client().get(url)
        assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/"), url
    for user in (alice, officer):
        assert portal(user).post("/models/", DECLARED).status_code == 403
        assert portal(user).post("/models/", {**REGISTER, **LLAMA_FACTS}).status_code == 403
    assert not RegisteredModel.objects.filter(served_name="llama-8b").exists()
    assert not AuditEvent.objects.filter(action="declared_use.set").exists()


def test_the_main_navigation_links_the_models_section_for_administrators_only(admin: Any, alice: Any) -> None:
    assert b'href="/models/"' in portal(admin).get("/documents/").content
    assert b'href="/models/"' not in portal(alice).get("/documents/").content


def test_the_registry_lists_the_bundled_model_and_says_the_model_server_is_down(
    admin: Any, smol: RegisteredModel
) -> None:
    response = portal(admin).get("/models/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-model="{MODEL_NAME}"' in page
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in page and "134,515,008" in page
    assert "Apache" in page and "verdict-allowed" in page and "open source" in page
    assert 'id="gate-down"' in page and "The model server cannot be reached" in page


def test_the_declared_use_form_recomputes_verdicts_and_is_audited(admin: Any) -> None:
    llama = model_register(served_name="llama", licence_id="llama-3.1-community")
    assert llama.verdict_status == "allowed_with_conditions"
    response = portal(admin).post("/models/", {**DECLARED, "monthly_active_users": "800000000"}, follow=True)
    assert response.status_code == 200
    assert "every model&#x27;s verdict was recomputed" in response.content.decode()
    llama.refresh_from_db()
    assert llama.verdict_status == "blocked"
    event = AuditEvent.objects.get(action="declared_use.set")
    assert event.actor_user_id == admin.pk and event.details["after"]["monthly_active_users"] == 800_000_000
    assert AuditEvent.objects.filter(action="model.verdict", target_id=str(llama.pk)).count() == 2
    assert 'class="status verdict-blocked"' in response.content.decode()


def test_registering_a_gpu_model_by_its_facts_then_its_hardware_fit(admin: Any) -> None:
    client = portal(admin)
    response = client.post("/models/", {**REGISTER, **LLAMA_FACTS})
    model = RegisteredModel.objects.get(served_name="llama-8b")
    assert response.status_code == 302 and response["Location"] == f"/models/{model.pk}/"
    assert (model.params, model.kv_heads, model.context_length) == (8_030_261_248, 8, 131_072)
    assert model.verdict_status == "allowed_with_conditions"
    assert AuditEvent.objects.get(action="model.register").actor_user_id == admin.pk

    page = client.get(response["Location"]).content.decode()
    assert "open weights" in page and "Built with Llama" in page  # the licence's attribution condition
    fit = client.get(
        response["Location"],
        {
            "quantization": "bf16",
            "context": "8192",
            "concurrency": "1",
            "gpus": "80",
            "cpu_ram_gib": "",
            "gpu_memory_utilization": "0.9",
            "kv_cache_dtype": "auto",
        },
    )
    assert fit.status_code == 200
    page = fit.content.decode()
    # weights 8,030,261,248 x 2 bytes = 14.96 GiB + KV 131,072 bytes x 8192 = 1 GiB + overhead 1 GiB = 16.96
    assert '<td id="needed">16.96</td>' in page
    assert '<td id="available">72.00</td>' in page  # 80 GiB x 0.9
    # (72 GiB - 14.96 GiB - 1 GiB) // 131,072 bytes = 459,099 tokens = 56 sequences of 8192
    assert '<dd id="max-concurrency">56</dd>' in page
    assert '<dd id="max-context">131072</dd>' in page
    assert (
        "vllm serve meta-llama/Llama-3.1-8B-Instruct --served-model-name llama-8b --max-model-len 8192 "
        "--max-num-seqs 1 --gpu-memory-utilization 0.9 --dtype bfloat16 --tensor-parallel-size 1"
    ) in page
    assert "image: vllm/vllm-openai" in page


def test_the_bundled_models_fit_on_cpu_ram(admin: Any, smol: RegisteredModel) -> None:
    query = {
        "quantization": "bf16",
        "context": "8192",
        "concurrency": "4",
        "gpus": "",
        "cpu_ram_gib": "4",
        "gpu_memory_utilization": "0.9",
        "kv_cache_dtype": "auto",
    }
    page = portal(admin).get(f"/models/{smol.pk}/", query).content.decode()
    # 134,515,008 x 2 bytes = 0.25 GiB + 23,040 bytes x 8192 x 4 = 0.70 GiB + 1 GiB = 1.95 GiB of 4
    assert '<td id="needed">1.95</td>' in page and '<td id="available">4.00</td>' in page
    assert '<dd id="max-concurrency">15</dd>' in page  # (4 GiB - 0.25 - 1) // 23,040 = 128,133 tokens
    assert "VLLM_CPU_KVCACHE_SPACE=1 vllm serve HuggingFaceTB/SmolLM2-135M-Instruct" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"gpus": "eighty"}, "Give each GPU&#x27;s memory as a number of GiB."),
        ({"gpus": "80", "cpu_ram_gib": "16"}, "Give either the GPUs or the CPU RAM."),
        ({"gpus": "", "cpu_ram_gib": ""}, "Give either the GPUs or the CPU RAM."),
        ({"gpus": "80", "context": "0"}, "greater than or equal to 1"),
    ],
)
def test_a_malformed_fit_form_is_a_400_with_the_reason(
    admin: Any, smol: RegisteredModel, query: dict[str, str], message: str
) -> None:
    base = {"quantization": "bf16", "context": "512", "concurrency": "1", "gpu_memory_utilization": "0.9"}
    response = portal(admin).get(f"/models/{smol.pk}/", {**base, "kv_cache_dtype": "auto", **query})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert 'id="fit-result"' not in response.content.decode()


def test_a_model_without_facts_says_what_the_fit_needs(admin: Any) -> None:
    bare = model_register(served_name="remote", licence_id="mit")
    page = portal(admin).get(f"/models/{bare.pk}/").content.decode()
    assert 'id="shape-error"' in page and "lacks the facts a hardware fit needs" in page
    assert portal(admin).get("/models/999999999/").status_code == 404


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"licence_id": "wtfpl"}, "Select a valid choice"),
        ({"weights_path": "/etc"}, "weights must lie under MODEL_WEIGHTS_ROOT"),
        ({"served_name": MODEL_NAME}, "is already registered"),
        ({"layers": "0"}, "greater than or equal to 1"),
    ],
)
def test_a_bad_registration_shows_the_error_and_creates_nothing(
    admin: Any, changes: dict[str, str], message: str
) -> None:
    before = RegisteredModel.objects.count()
    response = portal(admin).post("/models/", {**REGISTER, **changes})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert RegisteredModel.objects.count() == before
    assert not AuditEvent.objects.filter(action="model.register").exists()


def test_forms_refuse_a_post_without_the_csrf_token(admin: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.post("/models/", DECLARED).status_code == 403
    assert client.post("/models/evaluation/", {"action": "feedback"}).status_code == 403


def test_the_evaluation_page_lists_sets_and_runs_and_uploads_a_set(admin: Any, two_runs: Any) -> None:
    client = portal(admin)
    page = client.get("/models/evaluation/").content.decode()
    a, b = two_runs
    assert "Kestrel set" in page and f'data-run="{a.pk}"' in page and f'data-run="{b.pk}"' in page
    collection = a.evaluation_set.collection
    jsonl = (
        b'{"question": "What is the launch code?", "expected_fact": "BLUEFIN-4471"}\n'
        b'{"question": "Who won the cup?", "not_in_documents": true}\n'
    )
    response = client.post(
        "/models/evaluation/",
        {
            "action": "upload",
            "collection": str(collection.pk),
            "name": "uploaded",
            "file": SimpleUploadedFile("set.jsonl", jsonl),
        },
        follow=True,
    )
    assert response.status_code == 200
    created = EvaluationSet.objects.get(name="uploaded")
    assert created.items.count() == 2
    assert f"Evaluation set {created.pk} created." in response.content.decode()
    event = AuditEvent.objects.get(action="evaluation.set_create", target_id=str(created.pk))
    assert event.actor_user_id == admin.pk and event.details["source"] == "import"

    bad = client.post(
        "/models/evaluation/",
        {"action": "upload", "collection": str(collection.pk), "file": SimpleUploadedFile("x.jsonl", b"{no")},
    )
    assert bad.status_code == 400 and "line 1: not JSON" in bad.content.decode()
    none_rated = client.post("/models/evaluation/", {"action": "feedback", "collection": str(collection.pk)})
    assert (
        none_rated.status_code == 400 and "no 👎 answers for this collection" in none_rated.content.decode()
    )
    assert EvaluationSet.objects.count() == 2


def test_starting_a_run_queues_it_as_the_administrator(
    admin: Any, two_runs: Any, django_capture_on_commit_callbacks: Any
) -> None:
    evaluation_set = two_runs[0].evaluation_set
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = portal(admin).post("/models/evaluation/", {"action": "run", "set": str(evaluation_set.pk)})
    assert response.status_code == 302
    run = EvaluationRun.objects.exclude(pk__in=[r.pk for r in two_runs]).get()
    assert run.status == EvaluationRun.Status.QUEUED and run.run_as == admin and run.created_by == admin
    assert len(callbacks) == 1  # the Celery task, queued after commit exactly as the API queues it
    assert portal(admin).post("/models/evaluation/", {"action": "run", "set": "999999"}).status_code == 404
    assert portal(admin).post("/models/evaluation/", {"action": "run", "set": "²"}).status_code == 400


def test_two_runs_side_by_side_with_svg_charts(admin: Any, two_runs: Any) -> None:
    a, b = two_runs
    response = portal(admin).get(f"/models/evaluation/compare/{a.pk}/{b.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("<svg") == 2 and page.count("<title id=") == 2
    assert 'class="chart-a"' in page and 'class="chart-b"' in page
    assert "style=" not in page  # the CSP allows no inline style
    assert "<script" not in page.split("</main>")[0]
    # the settings that changed, the totals and their deltas, per question
    assert "LLM_MODEL <strong>changed</strong>" in page
    assert (
        '<tr data-total="answer_has_fact"><td>Answer has the fact</td><td>0.0</td><td>1.0</td><td>1.0</td>'
        in page
    )
    assert (
        '<tr data-total="total_ms"><td>Total time (ms, mean)</td><td>900</td><td>400</td><td>-500</td>'
        in page
    )
    assert "What is the launch code?" in page and "Who won the 1998 cup?" in page
    # The latency chart: 900 ms is the longest bar, 640 - 200 - 70 = 370 units wide; 400 ms is 164.4.
    assert 'width="370.0"' in page and 'width="164.4"' in page
    assert portal(admin).get(f"/models/evaluation/compare/{a.pk}/999999/").status_code == 404


def test_the_pages_speak_turkish(admin: Any, smol: RegisteredModel, two_runs: Any) -> None:
    a, b = two_runs
    by_header = portal(admin, HTTP_ACCEPT_LANGUAGE="tr").get("/models/").content.decode()
    assert "Beyan edilen kullanım" in by_header and "Model sunucusuna ulaşılamıyor" in by_header
    client = portal(admin)
    client.cookies["django_language"] = "tr"
    assert "Değerlendirme" in client.get("/models/evaluation/").content.decode()
    assert "Donanım uyumu" in client.get(f"/models/{smol.pk}/").content.decode()
    assert "Soru başına" in client.get(f"/models/evaluation/compare/{a.pk}/{b.pk}/").content.decode()


@pytest.mark.slow
def test_the_gate_shows_the_bundled_model_allowed_to_answer(llm: str, admin: Any) -> None:
    """Against the real bundled vLLM server: the served model, its verdict and the server's context window."""
    gate.cache_clear()
    page = portal(admin).get("/models/").content.decode()
    assert 'id="gate-down"' not in page
    assert "allowed to answer" in page and f"<dd>{MODEL_NAME}</dd>" in page
    assert "is registered (apache-2.0, allowed)" in page


def test_the_licence_catalogue_shows_each_verdict_and_an_edit_made_by_counsel(admin: Any) -> None:
    page = portal(admin).get("/models/").content.decode()
    assert 'data-licence="qwen-research"' in page and 'data-licence="apache-2.0"' in page
    assert "/admin/inference/licenceentry/apache-2.0/change/" in page
    # Counsel forbids commercial use of MIT models (an edit): the page shows it edited and blocked.
    mit = licence_get("mit")
    assert mit is not None
    values = {**entry_values(mit), "commercial_use": "forbidden", "commercial_use_condition": "not approved"}
    licence_store(licence=licence_from_values("mit", values))
    page = portal(admin).get("/models/").content.decode()
    row = page[page.index('data-licence="mit"') :].split("</tr>")[0]
    assert "edited since shipped" in row and "status-failed" in row and "not approved" in row


def test_a_regression_set_is_built_from_the_answer_log_on_the_page(admin: Any, alice: Any) -> None:
    collection = with_inventory(Collection.objects.create(name="Handbooks", owner=alice))
    document = Document.objects.create(
        collection=collection,
        title="handbook",
        original_filename="handbook.txt",
        mime_type="text/plain",
        sha256="0" * 64,
        size_bytes=1,
        status=Document.Status.READY,
    )
    answer = Answer.objects.create(
        conversation=Conversation.objects.create(user=alice, title="t"),
        question="What is the code?",
        text="…",
    )
    Citation.objects.create(answer=answer, n=1, document=document, title="handbook", snippet="…")
    client = portal(admin)
    response = client.post(
        "/models/evaluation/",
        {"action": "answer_log", "collection": str(collection.pk), "limit": "10"},
        follow=True,
    )
    assert response.status_code == 200
    created = EvaluationSet.objects.get(collection=collection)
    item = created.items.get()
    assert (item.question, item.expected_document_ids, item.source) == (
        "What is the code?",
        [document.pk],
        "answer_log",
    )
    empty = with_inventory(Collection.objects.create(name="Empty", owner=alice))
    refused = client.post(
        "/models/evaluation/", {"action": "answer_log", "collection": str(empty.pk), "limit": "5"}
    )
    assert refused.status_code == 400 and "no answered questions" in refused.content.decode()


def test_the_model_page_shows_the_required_evaluation_and_its_last_run(
    admin: Any, smol: RegisteredModel, settings: Any
) -> None:
    settings.MODEL_SWITCH_REQUIRES_EVAL = 41
    model_evaluated(
        served_name=MODEL_NAME, set_id=41, run_id=7, passed=False, failures=["recall_at_k 0.50 < 0.80"]
    )
    page = portal(admin).get(f"/models/{smol.pk}/").content.decode()
    table = page[page.index('id="evaluations"') :].split("</table>")[0]
    assert "evaluation set 41 on it passed" in page
    assert "required" in table and "not passed" in table and "recall_at_k 0.50 &lt; 0.80" in table
