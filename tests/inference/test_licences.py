"""The licence catalogue and the declared-use verdict (pure: no database, no Django)."""

from __future__ import annotations

import json

import pytest

from inference.licences import (
    CATALOGUE,
    DEFAULT_DECLARED_USE,
    PERMISSIONS,
    DeclaredUse,
    Term,
    verdict,
    verdict_dict,
)
from inference.provenance import PROVENANCE, provenance

INTERNAL = DEFAULT_DECLARED_USE
EVERYTHING = DeclaredUse(
    internal_commercial_use=True,
    fine_tune_or_distribute_derivatives=True,
    train_other_models_on_outputs=True,
    monthly_active_users=50_000,
)
RESEARCH = DeclaredUse(internal_commercial_use=False, monthly_active_users=20)
DISTILL = DeclaredUse(train_other_models_on_outputs=True)
HUGE = DeclaredUse(monthly_active_users=700_000_001)
QWEN_SCALE = DeclaredUse(monthly_active_users=100_000_001)

REQUIRED_IDS = {
    "apache-2.0",
    "mit",
    "llama-3.1-community",
    "llama-3.2-community",
    "llama-3.3-community",
    "gemma-terms",
    "qwen-license",
    "qwen-research",
    "mistral-research-license",
    "mistral-commercial",
    "olmo",
}


def test_catalogue_covers_the_licences_the_issue_names() -> None:
    assert REQUIRED_IDS <= set(CATALOGUE)


@pytest.mark.parametrize("licence_id", sorted(CATALOGUE))
def test_every_catalogue_entry_has_three_axes_and_a_source(licence_id: str) -> None:
    licence = CATALOGUE[licence_id]
    assert licence.id == licence_id
    assert set(licence.axes()) == {"commercial_use", "derivatives", "outputs_to_train_other_models"}
    for term in licence.axes().values():
        assert term.permission in PERMISSIONS
        assert term.permission == "allowed" or term.condition
    assert licence.sources
    assert all(source.url.startswith("https://") for source in licence.sources)


def test_a_restricted_term_must_say_its_condition() -> None:
    with pytest.raises(ValueError, match="condition"):
        Term("forbidden")
    with pytest.raises(ValueError, match="permission"):
        Term("maybe")  # type: ignore[arg-type]


def test_default_declared_use_is_a_small_internal_commercial_install() -> None:
    assert INTERNAL.internal_commercial_use
    assert not INTERNAL.fine_tune_or_distribute_derivatives
    assert not INTERNAL.train_other_models_on_outputs
    assert INTERNAL.monthly_active_users == 1_000


def test_negative_user_count_is_refused() -> None:
    with pytest.raises(ValueError):
        DeclaredUse(monthly_active_users=-1)


@pytest.mark.parametrize(
    ("licence_id", "use", "status", "reason_contains"),
    [
        # Permissive licences: everything allowed, no conditions.
        ("apache-2.0", INTERNAL, "allowed", None),
        ("apache-2.0", EVERYTHING, "allowed", None),
        ("apache-2.0", HUGE, "allowed", None),
        ("mit", EVERYTHING, "allowed", None),
        # Llama 3.x: conditions for internal commercial use; blocked above 700M MAU.
        ("llama-3.1-community", INTERNAL, "allowed_with_conditions", None),
        ("llama-3.2-community", INTERNAL, "allowed_with_conditions", None),
        ("llama-3.3-community", INTERNAL, "allowed_with_conditions", None),
        ("llama-3.1-community", DISTILL, "allowed_with_conditions", None),
        ("llama-3.3-community", EVERYTHING, "allowed_with_conditions", None),
        ("llama-3.1-community", HUGE, "blocked", "700,000,000"),
        ("llama-3.3-community", HUGE, "blocked", "700,000,000"),
        # Exactly at the threshold is not "greater than".
        (
            "llama-3.1-community",
            DeclaredUse(monthly_active_users=700_000_000),
            "allowed_with_conditions",
            None,
        ),
        # Llama's threshold counts any product's users, commercial or not.
        (
            "llama-3.1-community",
            DeclaredUse(internal_commercial_use=False, monthly_active_users=10**9),
            "blocked",
            "700,000,000",
        ),
        # Gemma: allowed with the Prohibited Use Policy; no user threshold.
        ("gemma-terms", INTERNAL, "allowed_with_conditions", None),
        ("gemma-terms", HUGE, "allowed_with_conditions", None),
        ("gemma-terms", DISTILL, "allowed_with_conditions", None),
        # Qwen licence: commercial use above 100M MAU needs Alibaba Cloud's licence.
        ("qwen-license", INTERNAL, "allowed_with_conditions", None),
        ("qwen-license", DeclaredUse(monthly_active_users=100_000_000), "allowed_with_conditions", None),
        ("qwen-license", QWEN_SCALE, "blocked", "100,000,000"),
        (
            "qwen-license",
            DeclaredUse(internal_commercial_use=False, monthly_active_users=10**9),
            "allowed_with_conditions",
            None,
        ),
        # Research licences block commercial use, allow research use with conditions.
        ("qwen-research", INTERNAL, "blocked", "Commercial use is not permitted"),
        ("qwen-research", RESEARCH, "allowed_with_conditions", None),
        ("mistral-research-license", INTERNAL, "blocked", "Commercial use is not permitted"),
        ("mistral-research-license", RESEARCH, "allowed_with_conditions", None),
        ("mistral-commercial", INTERNAL, "allowed_with_conditions", None),
        # OLMo 2: Apache-2.0; only the instruct variants' third-party-output notice remains.
        ("olmo", EVERYTHING, "allowed_with_conditions", None),
    ],
)
def test_declared_use_gives_the_expected_verdict(
    licence_id: str, use: DeclaredUse, status: str, reason_contains: str | None
) -> None:
    result = verdict(CATALOGUE[licence_id], use)
    assert result.status == status
    if status == "blocked":
        assert reason_contains is not None
        assert any(reason_contains in reason for reason in result.reasons), result.reasons
    else:
        assert result.reasons == []
    if status == "allowed":
        assert result.conditions == []
    if status == "allowed_with_conditions":
        assert result.conditions


def test_llama_conditions_name_attribution_and_the_aup() -> None:
    conditions = verdict(CATALOGUE["llama-3.1-community"], INTERNAL).conditions
    assert any('"Built with Llama"' in c for c in conditions)
    assert any("https://www.llama.com/llama3_1/use-policy/" in c for c in conditions)
    # No derived model declared: the naming rule is not asked of the organisation.
    assert not any('starting with "Llama"' in c for c in conditions)


def test_llama_training_on_outputs_is_allowed_with_the_naming_rule() -> None:
    result = verdict(CATALOGUE["llama-3.1-community"], DISTILL)
    assert result.status == "allowed_with_conditions"
    assert any(c.startswith("Training other models on outputs:") for c in result.conditions)
    assert any('starting with "Llama"' in c for c in result.conditions)


def test_gemma_conditions_carry_the_prohibited_use_policy_and_model_derivative_rule() -> None:
    result = verdict(CATALOGUE["gemma-terms"], DISTILL)
    assert any("https://ai.google.dev/gemma/prohibited_use_policy" in c for c in result.conditions)
    assert any("Model Derivative" in c for c in result.conditions)


def test_several_reasons_are_all_listed() -> None:
    use = DeclaredUse(monthly_active_users=10**9)
    result = verdict(CATALOGUE["qwen-research"], use)
    assert result.status == "blocked"
    assert len(result.reasons) == 1  # research licence has no threshold; commercial use alone blocks
    result = verdict(CATALOGUE["qwen-license"], DeclaredUse(monthly_active_users=10**9))
    assert len(result.reasons) == 1


@pytest.mark.parametrize("licence_id", sorted(CATALOGUE))
def test_verdict_is_deterministic_and_json_serialisable(licence_id: str) -> None:
    first = verdict_dict(CATALOGUE[licence_id], EVERYTHING)
    second = verdict(CATALOGUE[licence_id], EVERYTHING).as_dict()
    assert first == second
    decoded = json.loads(json.dumps(first))
    assert decoded["licence"] == licence_id
    assert decoded["status"] in {"allowed", "allowed_with_conditions", "blocked"}
    assert decoded["declared_use"]["monthly_active_users"] == 50_000


def test_provenance_tells_open_source_from_open_weights() -> None:
    smol = provenance("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert smol is not None
    assert smol.licence_id == "apache-2.0"
    assert smol.open_source
    olmo = provenance("allenai/OLMo-2-1124-7B")
    assert olmo is not None
    assert olmo.open_source
    for model in (
        "meta-llama/Llama-3.1-8B-Instruct",
        "Qwen/Qwen2.5-7B-Instruct",
        "mistralai/Mistral-7B-Instruct-v0.3",
        "google/gemma-2-9b-it",
    ):
        entry = provenance(model)
        assert entry is not None
        assert entry.weights == "yes"
        assert entry.training_data == "no"
        assert not entry.open_source
    assert provenance("unknown/model") is None


@pytest.mark.parametrize("model", sorted(PROVENANCE))
def test_provenance_points_at_a_catalogued_licence_and_a_source(model: str) -> None:
    entry = PROVENANCE[model]
    assert entry.licence_id in CATALOGUE
    assert entry.sources
