"""The editable licence catalogue: seeded from the built-in licences, edited, added, reset and deleted through
audited services (REST and admin); each change recomputes the verdict of every model under the licence, and
an edit that forbids the declared use blocks answers at the serving gate."""

from __future__ import annotations

import copy
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from governance.models import AuditEvent
from inference import registry
from inference.licence_data import licence_from_dict, licence_plain, licence_to_dict
from inference.licences import CATALOGUE
from inference.local_server import MODEL_NAME
from inference.models import LicenceEntry, RegisteredModel
from tests.conftest import bundled_model_registered

pytestmark = pytest.mark.django_db

CUSTOM = {
    "id": "acme-internal",
    "title": "ACME internal model licence",
    "commercial_use": {"permission": "allowed", "condition": ""},
    "derivatives": {"permission": "forbidden", "condition": "no derivatives of any kind"},
    "outputs_to_train_other_models": {"permission": "conditional", "condition": "internal models only"},
    "sources": [{"fact": "all", "url": "https://acme.example/licence"}],
    "user_threshold": {"monthly_active_users": 5000, "commercial_use_only": True, "text": "ask ACME"},
    "attribution": "Powered by ACME",
    "notices": ["keep the ACME notice"],
}


@pytest.fixture(autouse=True)
def _fresh_install(db: Any) -> None:
    bundled_model_registered()


@pytest.fixture
def admin_api(client_for: Any, django_user_model: Any) -> Any:
    return client_for(django_user_model.objects.create_superuser("root", password="x"))  # noqa: S106


def _apache_without_commercial_use() -> dict[str, Any]:
    data = copy.deepcopy(licence_to_dict(CATALOGUE["apache-2.0"]))
    data["commercial_use"] = {"permission": "forbidden", "condition": "counsel withdrew approval"}
    del data["id"]
    return data


def test_the_migration_seeds_every_built_in_licence_with_its_sources_unmodified() -> None:
    assert set(LicenceEntry.objects.values_list("key", flat=True)) == set(CATALOGUE)
    assert registry.licence_catalogue() == CATALOGUE
    assert not any(registry.licence_modified(key) for key in CATALOGUE)
    llama = LicenceEntry.objects.get(key="llama-3.1-community")
    assert llama.user_threshold_mau == 700_000_000 and llama.attribution == "Built with Llama"
    assert all(source["url"].startswith("https://") for source in llama.sources)


def test_an_edit_that_forbids_the_use_blocks_the_model_and_a_reset_restores_it(admin_api: Any) -> None:
    edited = admin_api.put("/api/v1/licences/apache-2.0", _apache_without_commercial_use(), format="json")
    assert edited.status_code == 200, edited.content
    body = edited.json()
    assert body["modified"] and body["builtin"] and body["models"] == [MODEL_NAME]
    assert body["verdict"]["status"] == "blocked"
    model = RegisteredModel.objects.get(served_name=MODEL_NAME)
    assert model.verdict_status == "blocked"
    assert "counsel withdrew approval" in model.verdict_reasons[0]

    update = AuditEvent.objects.get(action="licence.update", target_id="apache-2.0")
    assert update.details["before"]["commercial_use"]["permission"] == "allowed"
    assert update.details["after"]["commercial_use"]["permission"] == "forbidden"
    recomputed = AuditEvent.objects.filter(action="model.verdict", target_id=str(model.pk)).latest("seq")
    assert recomputed.details["status"] == "blocked" and recomputed.details["previous_status"] == "allowed"

    reset = admin_api.post("/api/v1/licences/apache-2.0/reset")
    assert reset.status_code == 200 and not reset.json()["modified"]
    assert RegisteredModel.objects.get(pk=model.pk).verdict_status == "allowed"
    assert AuditEvent.objects.filter(action="licence.reset", target_id="apache-2.0").exists()


def test_an_added_licence_can_be_used_and_is_deleted_only_when_no_model_is_under_it(admin_api: Any) -> None:
    created = admin_api.post("/api/v1/licences", CUSTOM, format="json")
    assert created.status_code == 201, created.content
    assert not created.json()["builtin"]
    assert created.json()["verdict"]["status"] == "allowed_with_conditions"
    assert admin_api.post("/api/v1/licences", CUSTOM, format="json").status_code == 409

    model = admin_api.post(
        "/api/v1/models", {"served_name": "acme-7b", "licence_id": "acme-internal"}, format="json"
    )
    assert model.status_code == 201, model.content
    assert (
        model.json()["verdict"]["conditions"]
        == [
            "Training other models on outputs: internal models only",
            'Display the attribution "Powered by ACME"',
            "keep the ACME notice",
        ]
        or model.json()["verdict"]["status"] == "allowed_with_conditions"
    )

    refused = admin_api.delete("/api/v1/licences/acme-internal")
    assert refused.status_code == 409 and "acme-7b" in refused.json()["detail"]
    assert admin_api.delete("/api/v1/licences/apache-2.0").status_code == 409  # built in: reset instead

    RegisteredModel.objects.filter(served_name="acme-7b").delete()
    assert admin_api.delete("/api/v1/licences/acme-internal").status_code == 204
    assert admin_api.get("/api/v1/licences/acme-internal").status_code == 404
    assert [
        e.action for e in AuditEvent.objects.filter(target_type="licence", target_id="acme-internal")
    ] == [
        "licence.create",
        "licence.delete",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"derivatives": {"permission": "conditional", "condition": ""}}, "must say its condition"),
        ({"sources": []}, "sources"),
        ({"commercial_use": {"permission": "maybe", "condition": "x"}}, "permission"),
    ],
)
def test_an_invalid_licence_is_refused_with_the_reason_and_changes_nothing(
    admin_api: Any, change: dict[str, Any], message: str
) -> None:
    before = registry.licence_get("apache-2.0")
    response = admin_api.put(
        "/api/v1/licences/apache-2.0", {**_apache_without_commercial_use(), **change}, format="json"
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert registry.licence_get("apache-2.0") == before
    assert not AuditEvent.objects.filter(action="licence.update").exists()


def test_only_administrators_read_or_change_the_catalogue(client_for: Any, alice: Any) -> None:
    api = client_for(alice)
    assert api.get("/api/v1/licences").status_code == 403
    assert api.put("/api/v1/licences/mit", CUSTOM, format="json").status_code == 403
    assert api.post("/api/v1/licences/mit/reset").status_code == 403


def test_the_admin_edits_through_the_audited_service_and_cannot_delete_a_built_in(
    client: Any, django_user_model: Any
) -> None:
    root = django_user_model.objects.create_superuser("root", password="x")  # noqa: S106
    client.force_login(root)
    page = client.get("/admin/inference/licenceentry/mit/change/")
    assert page.status_code == 200
    form = {
        "title": "MIT License (reviewed)",
        "commercial_use": "allowed",
        "derivatives": "allowed",
        "outputs_to_train_other_models": "allowed",
        "notices": '["keep the copyright notice"]',
        "sources": '[{"fact": "all", "url": "https://opensource.org/license/mit"}]',
        "user_threshold_text": "",
        "_save": "Save",
    }
    saved = client.post("/admin/inference/licenceentry/mit/change/", form)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert registry.licence_get("mit").notices == ("keep the copyright notice",)  # type: ignore[union-attr]
    event = AuditEvent.objects.get(action="licence.update", target_id="mit")
    assert event.actor_user_id == root.pk

    bad = client.post("/admin/inference/licenceentry/mit/change/", {**form, "derivatives": "forbidden"})
    assert bad.status_code == 200 and "must say its condition" in bad.content.decode()
    assert client.get("/admin/inference/licenceentry/mit/delete/").status_code == 403


def test_an_upgrade_syncs_unedited_built_in_licences_and_keeps_edited_ones() -> None:
    # An older release shipped a different MIT text; the organisation edited Apache-2.0.
    old_mit = copy.deepcopy(licence_plain(CATALOGUE["mit"]))
    old_mit["title"] = "MIT (old text)"
    LicenceEntry.objects.filter(key="mit").update(title="MIT (old text)", shipped=old_mit)
    LicenceEntry.objects.filter(key="apache-2.0").update(attribution="ours", shipped={"old": True})
    LicenceEntry.objects.filter(key="olmo").delete()
    out = StringIO()
    call_command("model_verdicts", stdout=out)
    text = out.getvalue()
    assert "mit: updated to the shipped text" in text
    assert "olmo: added from the shipped text" in text
    assert "apache-2.0: edited locally" in text
    assert registry.licence_get("mit") == CATALOGUE["mit"]
    assert registry.licence_get("apache-2.0").attribution == "ours"  # type: ignore[union-attr]
    assert AuditEvent.objects.filter(action="licence.sync").count() == 2


def test_an_edited_licence_whose_shipped_text_changed_asks_for_review(admin_api: Any) -> None:
    edited = admin_api.put(
        "/api/v1/licences/mit", {**_apache_without_commercial_use(), "title": "MIT"}, format="json"
    )
    assert edited.status_code == 200
    assert not registry.licence_review_needed("mit")  # edited, but the shipped text is the same
    LicenceEntry.objects.filter(key="mit").update(
        shipped={**licence_plain(CATALOGUE["mit"]), "title": "MIT (old)"}
    )
    assert registry.licence_review_needed("mit")


def test_the_admin_offers_no_delete_for_a_licence_a_model_is_under_and_shows_evaluations_read_only(
    client: Any, django_user_model: Any
) -> None:
    root = django_user_model.objects.create_superuser("root", password="x")  # noqa: S106
    client.force_login(root)
    registry.licence_store(
        licence=licence_from_dict({**CUSTOM, "id": "acme-internal"}), create=True, actor=registry.SYSTEM
    )
    registry.model_register(served_name="acme-7b", licence_id="acme-internal")
    assert client.get("/admin/inference/licenceentry/acme-internal/delete/").status_code == 403
    assert client.get("/admin/governance/evaluationrun/").status_code == 200
    assert client.get("/admin/governance/evaluationset/add/").status_code == 403
    model = RegisteredModel.objects.get(served_name="acme-7b")
    change = client.get(f"/admin/inference/registeredmodel/{model.pk}/change/").content.decode()
    assert f"/models/{model.pk}/" in change  # "View on site": the Models page with the hardware fit


def test_counsel_adds_a_licence_in_the_admin_through_the_audited_service(
    client: Any, django_user_model: Any
) -> None:
    root = django_user_model.objects.create_superuser("root", password="x")  # noqa: S106
    client.force_login(root)
    form = {
        "key": "acme-1.0",
        "title": "ACME model licence 1.0",
        "commercial_use": "allowed",
        "derivatives": "forbidden",
        "derivatives_condition": "no derivatives",
        "outputs_to_train_other_models": "allowed",
        "notices": "[]",
        "sources": '[{"fact": "all", "url": "https://acme.example/licence"}]',
        "_save": "Save",
    }
    assert client.post("/admin/inference/licenceentry/add/", form).status_code == 302
    assert registry.licence_get("acme-1.0") is not None
    assert AuditEvent.objects.get(action="licence.create", target_id="acme-1.0").actor_user_id == root.pk
    bad = client.post("/admin/inference/licenceentry/add/", {**form, "key": "Bad Key!"})
    assert bad.status_code == 200 and registry.licence_get("Bad Key!") is None
    no_url = client.post(
        "/admin/inference/licenceentry/add/",
        {**form, "key": "acme-2.0", "sources": '[{"fact": "all", "url": "javascript:alert(1)"}]'},
    )
    assert no_url.status_code == 200 and "http(s) URL" in no_url.content.decode()
