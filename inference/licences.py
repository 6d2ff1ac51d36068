"""Licence catalogue and the verdict for an organisation's declared use (pure: no database, no Django).

A model licence is read on three separate axes, because an organisation's answer differs per axis:

- **commercial use**: running the model for a business (here: an internal, on-premise assistant);
- **derivatives**: fine-tuning, merging, quantizing and re-distributing the weights;
- **outputs to train other models**: using generated text as training data (distillation, synthetic data).

Each axis is ``allowed``, ``conditional`` (allowed if the stated condition is met) or ``forbidden``. Extra
clauses — a monthly-active-user threshold, an acceptable-use policy, attribution text, naming of derivatives —
sit beside the axes. ``verdict()`` turns a licence and a ``DeclaredUse`` into *allowed* / *allowed with
conditions* / *blocked*, listing the conditions and the reasons; it is deterministic, so a stored verdict can be
recomputed and compared when the declaration or the catalogue changes.

Every fact carries the URL of the licence text it was read from (``Licence.sources``). Facts were checked
against the licence texts on the dates noted in docs/licences.md; where a fact could not be verified from the
text itself it says so in a comment. This is a governance aid, not legal advice: the catalogue is meant to be
reviewed (and, in the product, edited) by the organisation's counsel.

"Open weights is not open source": ``ModelProvenance`` records whether weights, code and training data are
published, independently of the licence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Permission = Literal["allowed", "conditional", "forbidden"]
Status = Literal["allowed", "allowed_with_conditions", "blocked"]
Published = Literal["yes", "no", "partly"]

PERMISSIONS: tuple[Permission, ...] = ("allowed", "conditional", "forbidden")
STATUSES: tuple[Status, ...] = ("allowed", "allowed_with_conditions", "blocked")


@dataclass(frozen=True)
class Term:
    """One axis of a licence: the permission and, unless plainly allowed, the condition in a sentence."""

    permission: Permission
    condition: str = ""

    def __post_init__(self) -> None:
        if self.permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {self.permission!r}")
        if self.permission != "allowed" and not self.condition:
            raise ValueError("a conditional or forbidden term must say its condition")


@dataclass(frozen=True)
class UserThreshold:
    """Above this many monthly active users the licence requires a separate licence from the licensor."""

    monthly_active_users: int
    # Llama counts users of *any* product of the licensee; Qwen only while "commercially using" the model.
    commercial_use_only: bool
    text: str


@dataclass(frozen=True)
class Source:
    """Where a fact was read: ``fact`` names it (an axis or a clause), ``url`` is the licence text."""

    fact: str
    url: str


@dataclass(frozen=True)
class Licence:
    id: str
    title: str
    commercial_use: Term
    derivatives: Term
    outputs_to_train_other_models: Term
    sources: tuple[Source, ...]
    user_threshold: UserThreshold | None = None
    acceptable_use_policy: str = ""  # URL; empty when the licence has none
    attribution: str = ""  # text to display, e.g. "Built with Llama"
    derivative_name_prefix: str = ""  # a derived model's name must start with this
    notices: tuple[str, ...] = ()  # further conditions that apply to any use

    def axes(self) -> dict[str, Term]:
        return {
            "commercial_use": self.commercial_use,
            "derivatives": self.derivatives,
            "outputs_to_train_other_models": self.outputs_to_train_other_models,
        }


@dataclass(frozen=True)
class DeclaredUse:
    """What the organisation does with its models. The defaults describe a fresh on-premise install."""

    internal_commercial_use: bool = True
    fine_tune_or_distribute_derivatives: bool = False
    train_other_models_on_outputs: bool = False
    monthly_active_users: int = 1_000
    sector: str = ""

    def __post_init__(self) -> None:
        if self.monthly_active_users < 0:
            raise ValueError("monthly_active_users cannot be negative")


DEFAULT_DECLARED_USE = DeclaredUse()


@dataclass(frozen=True)
class Verdict:
    licence_id: str
    status: Status
    conditions: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    use: DeclaredUse = DEFAULT_DECLARED_USE

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the audit trail and the API (the declared use travels with the verdict)."""
        return {
            "licence": self.licence_id,
            "status": self.status,
            "conditions": list(self.conditions),
            "reasons": list(self.reasons),
            "declared_use": asdict(self.use),
        }


_AXIS_LABELS = {
    "commercial_use": "Commercial use",
    "derivatives": "Fine-tuning or distributing derivatives",
    "outputs_to_train_other_models": "Training other models on outputs",
}


def _declared_axes(use: DeclaredUse) -> list[str]:
    axes = []
    if use.internal_commercial_use:
        axes.append("commercial_use")
    if use.fine_tune_or_distribute_derivatives:
        axes.append("derivatives")
    if use.train_other_models_on_outputs:
        axes.append("outputs_to_train_other_models")
    return axes


def verdict(licence: Licence, use: DeclaredUse = DEFAULT_DECLARED_USE) -> Verdict:
    """The licence's answer to the declared use.

    Order (fixed, so the lists compare equal between runs): the axes the use touches (commercial use,
    derivatives, outputs), then the user threshold, acceptable-use policy, attribution, naming of derivatives
    and the licence's notices. A forbidden axis or a crossed user threshold is a *reason* (blocked); anything
    else the organisation must do is a *condition*.
    """
    reasons: list[str] = []
    conditions: list[str] = []
    axes = licence.axes()
    for name in _declared_axes(use):
        term = axes[name]
        if term.permission == "forbidden":
            reasons.append(f"{_AXIS_LABELS[name]} is not permitted: {term.condition}")
        elif term.permission == "conditional":
            conditions.append(f"{_AXIS_LABELS[name]}: {term.condition}")

    threshold = licence.user_threshold
    if threshold is not None and use.monthly_active_users > threshold.monthly_active_users:
        if use.internal_commercial_use or not threshold.commercial_use_only:
            reasons.append(
                f"{use.monthly_active_users:,} monthly active users is above the licence's "
                f"{threshold.monthly_active_users:,}: {threshold.text}"
            )

    if licence.acceptable_use_policy:
        conditions.append(f"Comply with the acceptable use policy: {licence.acceptable_use_policy}")
    if licence.attribution:
        conditions.append(f'Display the attribution "{licence.attribution}"')
    makes_models = use.fine_tune_or_distribute_derivatives or use.train_other_models_on_outputs
    if licence.derivative_name_prefix and makes_models:
        conditions.append(
            f'Name any derived model that is distributed or made available starting with "{licence.derivative_name_prefix}"'
        )
    conditions.extend(licence.notices)

    if reasons:
        status: Status = "blocked"
    elif conditions:
        status = "allowed_with_conditions"
    else:
        status = "allowed"
    return Verdict(licence_id=licence.id, status=status, conditions=conditions, reasons=reasons, use=use)


def verdict_dict(licence: Licence, use: DeclaredUse = DEFAULT_DECLARED_USE) -> dict[str, Any]:
    return verdict(licence, use).as_dict()


# --- The catalogue -----------------------------------------------------------------------------------------

_APACHE = "https://www.apache.org/licenses/LICENSE-2.0"
_MIT = "https://opensource.org/license/mit"
_LLAMA_FAQ = "https://www.llama.com/faq/"
_GEMMA = "https://ai.google.dev/gemma/terms"
_GEMMA_AUP = "https://ai.google.dev/gemma/prohibited_use_policy"
_QWEN = "https://huggingface.co/Qwen/Qwen2.5-72B-Instruct/blob/main/LICENSE"
_QWEN_RESEARCH = "https://huggingface.co/Qwen/Qwen2.5-3B-Instruct/blob/main/LICENSE"
_MRL = "https://mistral.ai/licenses/MRL-0.1.md"
_OLMO2 = "https://huggingface.co/allenai/OLMo-2-1124-7B"
_OLMO2_INSTRUCT = "https://huggingface.co/allenai/OLMo-2-1124-7B-Instruct"


def _llama(version: str, released: str) -> Licence:
    # Read from the Llama 3.x Community License texts (sections 1.b.i–iv and 2 are the same wording in 3.1, 3.2
    # and 3.3): distribution or making available requires "Built with Llama"; a model created, trained or
    # fine-tuned with Llama Materials *or their outputs* that is distributed or made available must have a
    # name starting with "Llama"; the AUP is incorporated; above 700M MAU on the release date, ask Meta.
    # The FAQ confirms that from 3.1 on, outputs may train other models (Llama 2 and 3 forbade it).
    slug = version.replace(".", "_")
    licence_url = f"https://www.llama.com/llama{slug}/license/"
    aup = f"https://www.llama.com/llama{slug}/use-policy/"
    notices: tuple[str, ...] = (
        f"When redistributing the weights or a derivative, include a copy of the licence and the notice "
        f'"Llama {version} is licensed under the Llama {version} Community License, Copyright © Meta '
        f'Platforms, Inc. All Rights Reserved."',
    )
    if version == "3.2":
        # Llama 3.2 licence, section 1(a): the rights for the *multimodal* (vision) models are not granted to
        # individuals domiciled in, or companies with their principal place of business in, the EU. The
        # declared use does not record a jurisdiction, so this stays a condition for counsel to confirm.
        notices += (
            "Multimodal (vision) Llama 3.2 models: no rights are granted to an individual domiciled in, or a "
            "company with its principal place of business in, the European Union (text-only models unaffected)",
        )
    return Licence(
        id=f"llama-{version}-community",
        title=f"Llama {version} Community License Agreement ({released})",
        commercial_use=Term(
            "conditional",
            "permitted under the licence's conditions (acceptable use policy, attribution; separate licence "
            "from Meta above 700 million monthly active users)",
        ),
        derivatives=Term(
            "conditional",
            'permitted; a distributed derivative carries the licence, "Built with Llama", and a name '
            'starting with "Llama"',
        ),
        outputs_to_train_other_models=Term(
            "conditional",
            "permitted since Llama 3.1; a model so trained that is distributed or made available must be "
            'named starting with "Llama"',
        ),
        user_threshold=UserThreshold(
            monthly_active_users=700_000_000,
            commercial_use_only=False,
            text="the licensee (with affiliates) must request a licence from Meta, which Meta may grant at "
            f"its sole discretion; counted on the Llama {version} release date",
        ),
        acceptable_use_policy=aup,
        attribution="Built with Llama",
        derivative_name_prefix="Llama",
        notices=notices,
        sources=(
            Source("commercial_use", licence_url),
            Source("derivatives", licence_url),
            Source("outputs_to_train_other_models", licence_url),
            Source("outputs_to_train_other_models", _LLAMA_FAQ),
            Source("user_threshold", licence_url),
            Source("acceptable_use_policy", aup),
            Source("attribution", licence_url),
            Source("derivative_name_prefix", licence_url),
        ),
    )


def _build_catalogue() -> dict[str, Licence]:
    licences = [
        Licence(
            id="apache-2.0",
            title="Apache License 2.0",
            commercial_use=Term("allowed"),
            derivatives=Term("allowed"),
            outputs_to_train_other_models=Term("allowed"),
            sources=(Source("all", _APACHE),),
        ),
        Licence(
            id="mit",
            title="MIT License",
            commercial_use=Term("allowed"),
            derivatives=Term("allowed"),
            outputs_to_train_other_models=Term("allowed"),
            sources=(Source("all", _MIT),),
        ),
        _llama("3.1", "July 23, 2024"),
        _llama("3.2", "September 25, 2024"),
        _llama("3.3", "December 6, 2024"),
        Licence(
            # Gemma Terms of Use (Gemma 1–3). Section 1.1 defines "Model Derivatives" to include any model
            # created by transferring patterns of Gemma's weights *or Output* (distillation, synthetic data), so
            # a model trained on Gemma outputs is itself bound by these terms. Section 3.1: distribution passes
            # on the use restrictions and this notice. No user threshold in the text. Google may update the
            # Prohibited Use Policy and may restrict use it believes violates the terms (section 3.2 / 4.1).
            id="gemma-terms",
            title="Gemma Terms of Use",
            commercial_use=Term(
                "conditional", "permitted; the Gemma Prohibited Use Policy applies to every use"
            ),
            derivatives=Term(
                "conditional",
                "permitted; Model Derivatives stay under the Gemma Terms (use restrictions passed on, copy of "
                "the terms and the notice included when distributed)",
            ),
            outputs_to_train_other_models=Term(
                "conditional",
                "permitted, but a model trained on Gemma outputs is a Model Derivative and bound by the Gemma "
                "Terms",
            ),
            acceptable_use_policy=_GEMMA_AUP,
            attribution="Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms",
            notices=(
                "Google may update the Prohibited Use Policy; use a recent version of Gemma where reasonable",
            ),
            sources=(
                Source("commercial_use", _GEMMA),
                Source("derivatives", _GEMMA),
                Source("outputs_to_train_other_models", _GEMMA),
                Source("acceptable_use_policy", _GEMMA_AUP),
                Source("attribution", _GEMMA),
            ),
        ),
        Licence(
            # Qwen LICENSE AGREEMENT (19 September 2024; Qwen2.5-72B and similar). Section 2: commercial use by a
            # product above 100M MAU needs a licence from Alibaba Cloud. Section 4: keep the notice; a model
            # created, trained or fine-tuned with the Materials or their outputs, if distributed or made
            # available, shows "Built with Qwen" or "Improved using Qwen". No separate AUP document; the
            # licence's own use rules (laws, export control) apply.
            id="qwen-license",
            title="Qwen LICENSE AGREEMENT",
            commercial_use=Term(
                "conditional",
                "permitted; above 100 million monthly active users a licence from Alibaba Cloud is required",
            ),
            derivatives=Term(
                "conditional",
                'permitted; a distributed derivative carries the agreement, the notice and "Built with Qwen" '
                'or "Improved using Qwen" in its documentation',
            ),
            outputs_to_train_other_models=Term(
                "conditional",
                'permitted; a model so trained that is distributed or made available shows "Built with Qwen" '
                'or "Improved using Qwen" in its documentation',
            ),
            user_threshold=UserThreshold(
                monthly_active_users=100_000_000,
                commercial_use_only=True,
                text="commercial use above this needs a licence from Alibaba Cloud",
            ),
            notices=(
                'Keep the notice "Qwen is licensed under the Qwen LICENSE AGREEMENT, Copyright (c) Alibaba '
                'Cloud. All Rights Reserved." in distributed copies',
            ),
            sources=(
                Source("commercial_use", _QWEN),
                Source("derivatives", _QWEN),
                Source("outputs_to_train_other_models", _QWEN),
                Source(
                    "outputs_to_train_other_models",
                    "https://huggingface.co/Qwen/Qwen2.5-72B-Instruct/discussions/18",
                ),
                Source("user_threshold", _QWEN),
            ),
        ),
        Licence(
            # Qwen RESEARCH LICENSE AGREEMENT (19 September 2024; Qwen2.5-3B and similar): non-commercial use only,
            # commercial use needs a separate licence. The outputs clause mirrors the Qwen licence's; that it is
            # limited to non-commercial purposes is our reading of the grant, not a separate sentence we verified.
            id="qwen-research",
            title="Qwen RESEARCH LICENSE AGREEMENT",
            commercial_use=Term(
                "forbidden",
                "research and other non-commercial use only; commercial use needs a licence from Alibaba Cloud",
            ),
            derivatives=Term("conditional", "permitted for non-commercial purposes only"),
            outputs_to_train_other_models=Term(
                "conditional",
                'non-commercial purposes only; a distributed model so trained shows "Built with Qwen" or '
                '"Improved using Qwen"',
            ),
            notices=("Non-commercial (research) use only",),
            sources=(
                Source("commercial_use", _QWEN_RESEARCH),
                Source("derivatives", _QWEN_RESEARCH),
                Source("outputs_to_train_other_models", _QWEN_RESEARCH),
            ),
        ),
        Licence(
            # Mistral AI Research License (MRL 0.1): use, modification and distribution for Research Purposes only
            # (no commercial activity, no production use); "If You want to use a Mistral Model, a Derivative or an
            # Output for any purpose that is not expressly authorized under this Agreement, You must request a
            # license from Mistral AI". Outputs are therefore limited to research as well.
            id="mistral-research-license",
            title="Mistral AI Research License (MRL 0.1)",
            commercial_use=Term(
                "forbidden",
                "research purposes only; commercial or production use needs a licence from Mistral AI",
            ),
            derivatives=Term(
                "conditional",
                "permitted for research purposes only; distributed derivatives carry the MRL and its notice",
            ),
            outputs_to_train_other_models=Term(
                "conditional", "Outputs may be used for research purposes only"
            ),
            notices=("Research purposes only",),
            sources=(
                Source("commercial_use", _MRL),
                Source("derivatives", _MRL),
                Source("outputs_to_train_other_models", _MRL),
            ),
        ),
        Licence(
            # Mistral's commercial licence is a negotiated contract, not a public text: its terms could not be
            # verified. The entry records that commercial use rests on the contract the organisation holds;
            # derivatives and outputs are "conditional" on that contract's terms, to be edited by the admin.
            id="mistral-commercial",
            title="Mistral AI Commercial License (negotiated)",
            commercial_use=Term(
                "conditional", "permitted under the organisation's signed commercial licence"
            ),
            derivatives=Term(
                "conditional", "only as the signed commercial licence allows (terms not public)"
            ),
            outputs_to_train_other_models=Term(
                "conditional", "only as the signed commercial licence allows (terms not public)"
            ),
            notices=("Keep a copy of the signed Mistral AI commercial licence on file",),
            sources=(Source("commercial_use", "https://mistral.ai/licenses/"),),
        ),
        Licence(
            # OLMo 2 (Ai2): weights and code under Apache 2.0, pre-training data (OLMo-mix-1124, Dolmino-mix-1124)
            # published under ODC-BY. The Instruct/DPO variants' model cards add that they are intended for research
            # and educational use under Ai2's Responsible Use Guidelines and were tuned on data that includes
            # outputs of third-party models, subject to those models' terms (Gemma Terms, Qwen licence).
            id="olmo",
            title="OLMo 2 (Apache License 2.0; open data and code)",
            commercial_use=Term("allowed"),
            derivatives=Term("allowed"),
            outputs_to_train_other_models=Term("allowed"),
            notices=(
                "Instruct variants: tuning data includes outputs of third-party models subject to their own terms "
                "(Gemma Terms of Use, Qwen licence); follow Ai2's Responsible Use Guidelines",
            ),
            sources=(
                Source("all", _APACHE),
                Source("all", _OLMO2),
                Source("notices", _OLMO2_INSTRUCT),
            ),
        ),
    ]
    return {licence.id: licence for licence in licences}


CATALOGUE: dict[str, Licence] = _build_catalogue()
