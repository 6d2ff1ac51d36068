"""Provenance of well-known models: are the weights, the training code and the training data published?
Open weights is not open source (docs/licences.md). Each model names its licence in inference.licences."""

from __future__ import annotations

from dataclasses import dataclass

from inference.licences import _GEMMA, _OLMO2, Published


@dataclass(frozen=True)
class ModelProvenance:
    model: str
    licence_id: str
    weights: Published
    code: Published  # training code, not just inference code
    training_data: Published
    note: str = ""
    sources: tuple[str, ...] = ()

    @property
    def open_source(self) -> bool:
        """Open source in the full sense: weights, training code and training data all published."""
        return self.weights == self.code == self.training_data == "yes"


PROVENANCE: dict[str, ModelProvenance] = {
    p.model: p
    for p in (
        ModelProvenance(
            model="HuggingFaceTB/SmolLM2-135M-Instruct",
            licence_id="apache-2.0",
            weights="yes",
            code="yes",
            training_data="yes",
            note="Pre-training corpora (FineWeb-Edu, DCLM, The Stack, FineMath, Stack-Edu) and the SmolTalk "
            "instruction set are published, as are the training and evaluation code (huggingface/smollm).",
            sources=(
                "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
                "https://github.com/huggingface/smollm",
            ),
        ),
        ModelProvenance(
            model="meta-llama/Llama-3.1-8B-Instruct",
            licence_id="llama-3.1-community",
            weights="yes",
            code="partly",
            training_data="no",
            note="Inference and fine-tuning code published (llama-models, llama-recipes); pre-training data not "
            "published.",
            sources=("https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct",),
        ),
        ModelProvenance(
            # Qwen2.5-7B itself is Apache 2.0; only some sizes (3B, 72B) carry the Qwen licences.
            model="Qwen/Qwen2.5-7B-Instruct",
            licence_id="apache-2.0",
            weights="yes",
            code="partly",
            training_data="no",
            note="Inference code published; training data and training code not published.",
            sources=("https://huggingface.co/Qwen/Qwen2.5-7B-Instruct",),
        ),
        ModelProvenance(
            model="mistralai/Mistral-7B-Instruct-v0.3",
            licence_id="apache-2.0",
            weights="yes",
            code="partly",
            training_data="no",
            note="Inference code published (mistral-inference); training data not published.",
            sources=("https://huggingface.co/mistralai/Mistral-7B-Instruct-v0.3",),
        ),
        ModelProvenance(
            model="google/gemma-2-9b-it",
            licence_id="gemma-terms",
            weights="yes",
            code="partly",
            training_data="no",
            note="Inference code published (gemma_pytorch, gemma.cpp); training data not published.",
            sources=("https://huggingface.co/google/gemma-2-9b-it", _GEMMA),
        ),
        ModelProvenance(
            model="allenai/OLMo-2-1124-7B",
            licence_id="olmo",
            weights="yes",
            code="yes",
            training_data="yes",
            note="Training code (OLMo, OLMo-core), data (OLMo-mix-1124, Dolmino-mix-1124), checkpoints and logs "
            "published.",
            sources=(_OLMO2,),
        ),
    )
}


def provenance(model: str) -> ModelProvenance | None:
    return PROVENANCE.get(model)
