"""The model registry: registration reads the weights' facts and hashes them; the declared use decides every
verdict, recomputed and audited on each change."""

from __future__ import annotations

import hashlib
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from governance.models import AuditEvent
from inference import registry, weights_hashing
from inference.licences import DeclaredUse
from inference.local_server import MODEL_NAME
from inference.models import RegisteredModel
from tests.conftest import bundled_model_registered

pytestmark = pytest.mark.django_db

SMOL = Path(django_settings.LOCAL_LLM_DIR)


@pytest.fixture(autouse=True)
def _fresh_install(db: Any) -> None:
    bundled_model_registered()


def test_a_fresh_install_has_the_bundled_model_registered_and_allowed() -> None:
    model = registry.model_for_served_name(MODEL_NAME)
    assert model is not None
    assert model.licence_id == "apache-2.0" and model.verdict_status == "allowed"
    assert (model.layers, model.hidden_size, model.kv_heads, model.head_dim) == (30, 576, 3, 64)
    assert model.open_source
    assert registry.declared_use_get() == DeclaredUse()


def test_register_reads_config_json_and_hashes_the_weights(tmp_path: Path, alice: Any, settings: Any) -> None:
    settings.MODEL_WEIGHTS_ROOT = str(tmp_path)
    (tmp_path / "config.json").write_text((SMOL / "config.json").read_text())
    (tmp_path / "model.safetensors").write_bytes(b"not really weights")
    model = registry.model_register(
        served_name="smol-copy", licence_id="apache-2.0", weights_path=str(tmp_path), created_by=alice
    )
    assert (model.params, model.layers, model.kv_heads, model.context_length) == (134_515_008, 30, 3, 8192)
    assert (model.heads, model.embedding_params) == (9, 49_152 * 576)  # tied embeddings
    assert model.weights_manifest == {"model.safetensors": hashlib.sha256(b"not really weights").hexdigest()}
    assert model.verdict_status == "allowed" and model.verdict_computed_at is not None
    register = AuditEvent.objects.get(action="model.register", target_id=str(model.pk))
    assert register.details["weights_manifest"] == model.weights_manifest
    verdict = AuditEvent.objects.get(action="model.verdict", target_id=str(model.pk))
    assert verdict.details["status"] == "allowed" and verdict.details["licence"] == "apache-2.0"


def test_register_refuses_an_unknown_licence_a_duplicate_name_and_weights_outside_the_root() -> None:
    with pytest.raises(registry.RegistryError, match="MODEL_WEIGHTS_ROOT"):
        registry.model_register(served_name="x", licence_id="apache-2.0", weights_path="/etc")
    with pytest.raises(registry.RegistryError, match="unknown licence"):
        registry.model_register(served_name="x", licence_id="wtfpl")
    with pytest.raises(registry.RegistryError, match="already registered"):
        registry.model_register(served_name=MODEL_NAME, licence_id="apache-2.0")


def test_a_research_licence_is_blocked_for_commercial_use() -> None:
    model = registry.model_register(
        served_name="qwen-3b", licence_id="qwen-research", facts={"layers": 36, "kv_heads": 2}
    )
    assert model.layers == 36
    assert model.verdict_status == "blocked"
    assert model.verdict_reasons and "Commercial use is not permitted" in model.verdict_reasons[0]


def test_changing_the_declared_use_recomputes_every_verdict_and_audits_it(alice: Any) -> None:
    llama = registry.model_register(served_name="llama", licence_id="llama-3.1-community")
    assert llama.verdict_status == "allowed_with_conditions"
    before = AuditEvent.objects.filter(action="model.verdict").count()

    registry.declared_use_set(use=DeclaredUse(monthly_active_users=800_000_000), updated_by=alice)

    llama.refresh_from_db()
    assert llama.verdict_status == "blocked" and "monthly active users" in llama.verdict_reasons[0]
    assert registry.model_for_served_name(MODEL_NAME).verdict_status == "allowed"  # type: ignore[union-attr]
    event = AuditEvent.objects.get(action="declared_use.set")
    assert event.details["before"]["monthly_active_users"] == 1000
    assert event.details["after"]["monthly_active_users"] == 800_000_000
    recomputed = AuditEvent.objects.filter(action="model.verdict").order_by("seq")[before:]
    assert {e.details["served_name"]: e.details["status"] for e in recomputed} == {
        MODEL_NAME: "allowed",
        "llama": "blocked",
    }
    assert json.dumps(RegisteredModel.objects.get(pk=llama.pk).verdict_reasons)


def test_the_rest_api_registers_lists_and_declares_for_administrators_only(
    client_for: Any, alice: Any, django_user_model: Any
) -> None:
    admin = django_user_model.objects.create_superuser("root", password="x")  # noqa: S106
    refused = client_for(alice)
    assert refused.get("/api/v1/models").status_code == 403
    assert refused.put("/api/v1/declared-use", {}, format="json").status_code == 403

    api = client_for(admin)
    created = api.post("/api/v1/models", {"served_name": "gemma", "licence_id": "gemma-terms"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["verdict"]["status"] == "allowed_with_conditions"
    assert (
        api.post("/api/v1/models", {"served_name": "gemma", "licence_id": "mit"}, format="json").status_code
        == 409
    )
    names = [m["served_name"] for m in api.get("/api/v1/models").json()["results"]]
    assert names == ["gemma", MODEL_NAME]
    detail = api.get(f"/api/v1/models/{created.json()['id']}").json()
    assert detail["licence_id"] == "gemma-terms"

    use = {**api.get("/api/v1/declared-use").json(), "train_other_models_on_outputs": True}
    assert api.put("/api/v1/declared-use", use, format="json").status_code == 200
    assert AuditEvent.objects.filter(action="declared_use.set").count() == 1
    assert registry.declared_use_get().train_other_models_on_outputs is True


def test_the_model_verdicts_command_recomputes_every_verdict_and_audits_it() -> None:
    # After an upgrade changed the built-in catalogue, stored verdicts are recomputed by this command.
    RegisteredModel.objects.filter(served_name=MODEL_NAME).update(verdict_status="blocked")
    out = StringIO()
    call_command("model_verdicts", stdout=out)
    assert (
        f"{MODEL_NAME}: allowed (apache-2.0)" in out.getvalue() and "1 verdict(s) changed." in out.getvalue()
    )
    assert RegisteredModel.objects.get(served_name=MODEL_NAME).verdict_status == "allowed"
    event = AuditEvent.objects.filter(action="model.verdict").latest("seq")
    assert event.role == "command_line" and event.details["previous_status"] == "blocked"


def test_a_gpu_model_is_registered_over_the_api_with_its_published_facts_and_fitted(
    client_for: Any, django_user_model: Any
) -> None:
    api = client_for(django_user_model.objects.create_superuser("root", password="x"))  # noqa: S106
    facts = {  # Llama-3.1-8B-Instruct's published config.json (inference/hardware_presets.py)
        "params": 8_030_261_248,
        "layers": 32,
        "hidden_size": 4096,
        "heads": 32,
        "kv_heads": 8,
        "head_dim": 128,
        "context_length": 131_072,
        "embedding_params": 1_050_673_152,
    }
    created = api.post(
        "/api/v1/models",
        {"served_name": "llama-8b", "licence_id": "llama-3.1-community", "facts": facts},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert {k: created.json()[k] for k in facts} == facts
    fit = api.post(
        "/api/v1/models/fit",
        {"model_id": created.json()["id"], "quantization": "awq", "context": 8192, "gpus_gib": [10]},
        format="json",
    )
    assert fit.status_code == 200, fit.content
    # AWQ keeps the 1,050,673,152 embedding weights at 2 bytes: 5,727,460,432 bytes (docs/model-fit.md)
    assert fit.json()["weights_gib"] == pytest.approx(5_727_460_432 / 1024**3) and fit.json()["fits"]
    bad = api.post(
        "/api/v1/models", {"served_name": "x", "licence_id": "mit", "facts": {"layers": 0}}, format="json"
    )
    assert bad.status_code == 400 and not RegisteredModel.objects.filter(served_name="x").exists()


def test_a_model_licence_or_facts_change_and_its_removal_are_audited(
    client_for: Any, django_user_model: Any, client: Any
) -> None:
    root = django_user_model.objects.create_superuser("root", password="x")  # noqa: S106
    api = client_for(root)
    model = registry.model_register(served_name="mistral", licence_id="apache-2.0")
    changed = api.patch(
        f"/api/v1/models/{model.pk}",
        {"licence_id": "mistral-research-license", "facts": {"layers": 32, "heads": 32}},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["verdict"]["status"] == "blocked" and changed.json()["layers"] == 32
    event = AuditEvent.objects.get(action="model.update", target_id=str(model.pk))
    assert event.details["before"] == {"licence_id": "apache-2.0", "layers": None, "heads": None}
    assert api.patch(f"/api/v1/models/{model.pk}", {"licence_id": "nope"}, format="json").status_code == 400

    assert api.delete(f"/api/v1/models/{model.pk}").status_code == 204
    assert not RegisteredModel.objects.filter(pk=model.pk).exists()
    removed = AuditEvent.objects.get(action="model.unregister", target_id=str(model.pk))
    assert removed.details["licence"] == "mistral-research-license" and removed.actor_user_id == root.pk

    # The admin's delete goes through the same audited service; its bulk delete is not offered.
    other = registry.model_register(served_name="gemma", licence_id="gemma-terms")
    client.force_login(root)
    response = client.post(f"/admin/inference/registeredmodel/{other.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="model.unregister", target_id=str(other.pk)).exists()
    changelist = client.get("/admin/inference/registeredmodel/").content.decode()
    assert "delete_selected" not in changelist


def test_large_weights_are_hashed_by_a_worker_after_the_registration(
    tmp_path: Path, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MODEL_WEIGHTS_ROOT = str(tmp_path)
    settings.MODEL_HASH_INLINE_BYTES = 4  # anything bigger is a worker's job
    (tmp_path / "config.json").write_text((SMOL / "config.json").read_text())
    (tmp_path / "model.safetensors").write_bytes(b"sixteen gigabytes")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        model = registry.model_register(
            served_name="big", licence_id="apache-2.0", weights_path=str(tmp_path)
        )
    assert model.manifest_status == "pending" and model.weights_manifest == {}
    assert model.params == 134_515_008  # the facts are read at once: config.json is small
    assert len(queued) == 1  # the hashing task, sent once the registration commits

    hashed = weights_hashing.model_weights_hash(model_id=model.pk)  # what the worker runs
    assert hashed is not None and hashed.manifest_status == "complete"
    assert hashed.weights_manifest == {"model.safetensors": hashlib.sha256(b"sixteen gigabytes").hexdigest()}
    event = AuditEvent.objects.get(action="model.weights_hashed", target_id=str(model.pk))
    assert event.details["weights_manifest"] == hashed.weights_manifest
    assert weights_hashing.model_weights_hash(model_id=model.pk) is None  # a redelivered task: nothing to do
