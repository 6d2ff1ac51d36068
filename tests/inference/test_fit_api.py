"""POST /api/v1/models/fit: the hardware fit of a preset, a registered model or a config.json, for
administrators only. Figures hand-computed (GiB = 2**30 bytes; runtime overhead 1 GiB per device)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from inference.hardware_presets import PRESETS
from inference.local_server import MODEL_NAME
from inference.registry import model_for_served_name, model_register
from tests.conftest import bundled_model_registered

pytestmark = pytest.mark.django_db

GIB = 2**30


@pytest.fixture
def admin(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("root", password="x", is_staff=True)  # noqa: S106


@pytest.fixture
def api(client_for: Any, admin: Any) -> Any:
    return client_for(admin)


def test_a_preset_on_one_80_gib_gpu(api: Any) -> None:
    answer = api.post(
        "/api/v1/models/fit",
        {"preset": "llama-3.1-8b-instruct", "quantization": "bf16", "context": 8192, "gpus_gib": [80]},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    fit = answer.json()
    # weights 8,030,261,248 x 2 bytes = 16,060,522,496 bytes = 14.9575 GiB
    assert fit["weights_gib"] == pytest.approx(16_060_522_496 / GIB)
    # KV: 2 x 32 layers x 8 KV heads x 128 x 2 bytes = 131,072 bytes/token; x 8192 tokens = 1 GiB
    assert fit["kv_bytes_per_token"] == 131_072
    assert fit["kv_cache_gib"] == pytest.approx(1.0)
    # needed 14.9575 + 1 + 1 = 16.9575 GiB against 80 x 0.9 = 72 GiB
    assert fit["needed_gib_per_device"] == pytest.approx(16_060_522_496 / GIB + 2)
    assert fit["available_gib_per_device"] == pytest.approx(72.0)
    assert fit["fits"] is True and fit["reasons"] == []
    # (77,309,411,328 - 16,060,522,496 - 1,073,741,824) // 131,072 = 459,099 tokens: 459,099 // 8192 = 56
    assert fit["max_concurrency"] == 56
    assert fit["max_context"] == 131_072  # the model's own maximum
    assert fit["suggested_quantization"] == "bf16"
    assert fit["tensor_parallel_size"] == 1 and fit["device"] == "gpu"
    assert fit["vllm_command"] == (
        "vllm serve meta-llama/Llama-3.1-8B-Instruct --max-model-len 8192 --max-num-seqs 1 "
        "--gpu-memory-utilization 0.9 --dtype bfloat16 --tensor-parallel-size 1"
    )
    assert "count: 1" in fit["compose_service"]


def test_the_bundled_registered_model_on_cpu_ram(api: Any) -> None:
    bundled_model_registered()
    model = model_for_served_name(MODEL_NAME)
    assert model is not None
    answer = api.post(
        "/api/v1/models/fit",
        {"model_id": model.pk, "quantization": "bf16", "context": 8192, "concurrency": 4, "cpu_ram_gib": 4},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    fit = answer.json()
    # weights 134,515,008 x 2 = 269,030,016 bytes = 0.2506 GiB
    assert fit["weights_gib"] == pytest.approx(269_030_016 / GIB)
    # KV: 2 x 30 layers x 3 KV heads x 64 x 2 bytes = 23,040 bytes/token; x 8192 x 4 = 754,974,720 = 0.703125 GiB
    assert fit["kv_bytes_per_token"] == 23_040
    assert fit["kv_cache_gib"] == pytest.approx(0.703125)
    assert fit["needed_gib_per_device"] == pytest.approx(269_030_016 / GIB + 0.703125 + 1)
    assert fit["available_gib_per_device"] == pytest.approx(4.0)
    assert fit["fits"] is True and fit["device"] == "cpu"
    # (4 GiB - 269,030,016 - 1 GiB) // 23,040 = 128,133 tokens: 128,133 // 8192 = 15 sequences
    assert fit["max_concurrency"] == 15
    assert fit["max_context"] == 8192
    assert fit["vllm_command"] == (
        "VLLM_CPU_KVCACHE_SPACE=1 vllm serve HuggingFaceTB/SmolLM2-135M-Instruct "
        "--served-model-name smollm2-135m --max-model-len 8192 --max-num-seqs 4 --dtype bfloat16"
    )


def test_a_config_json_and_a_context_beyond_the_model(api: Any) -> None:
    config = {k: v for k, v in PRESETS["smollm2-135m-instruct"].items() if not k.startswith("_")}
    answer = api.post(
        "/api/v1/models/fit",
        {"config": config, "quantization": "bf16", "context": 16384, "gpus_gib": [24]},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    fit = answer.json()
    assert fit["fits"] is False
    assert fit["reasons"] == ["context 16384 exceeds the model's maximum 8192"]
    assert fit["suggested_quantization"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"preset": "llama-3.1-8b-instruct", "cpu_ram_gib": 8, "gpus_gib": [24]}, "either gpus_gib"),
        ({"cpu_ram_gib": 8}, "exactly one of"),
        ({"preset": "llama-3.1-8b-instruct", "model_id": 1, "cpu_ram_gib": 8}, "exactly one of"),
        ({"config": {"hidden_size": 64}, "cpu_ram_gib": 8}, "not a decoder config.json"),
        (
            {
                "config": {**PRESETS["smollm2-135m-instruct"], "num_hidden_layers": 0},
                "cpu_ram_gib": 8,
            },
            "layers 0",
        ),
    ],
)
def test_malformed_input_is_a_400_with_the_reason(api: Any, body: dict[str, Any], message: str) -> None:
    answer = api.post("/api/v1/models/fit", {"quantization": "bf16", "context": 512, **body}, format="json")
    assert answer.status_code == 400, answer.content
    assert message in answer.content.decode()


def test_a_registered_model_without_facts_is_a_400_and_an_unknown_one_a_404(api: Any) -> None:
    bare = model_register(served_name="remote-gpu-model", licence_id="apache-2.0")
    body = {"quantization": "bf16", "context": 512, "gpus_gib": [24]}
    answer = api.post("/api/v1/models/fit", {**body, "model_id": bare.pk}, format="json")
    assert answer.status_code == 400
    assert "lacks the facts a hardware fit needs" in answer.json()["detail"]
    assert api.post("/api/v1/models/fit", {**body, "model_id": 10**9}, format="json").status_code == 404


def test_employees_and_compliance_officers_are_refused(client_for: Any, alice: Any, carol: Any) -> None:
    from django.contrib.auth.models import Group

    from governance.roles import COMPLIANCE_GROUP

    carol.groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    body = {"preset": "llama-3.1-8b-instruct", "quantization": "bf16", "context": 512, "gpus_gib": [80]}
    for user in (alice, carol):
        assert client_for(user).post("/api/v1/models/fit", body, format="json").status_code == 403


def test_a_number_that_reads_as_infinity_is_a_400(api: Any) -> None:
    config = json.dumps(PRESETS["smollm2-135m-instruct"])[:-1] + ', "num_parameters": 1e400}'
    body = f'{{"config": {config}, "quantization": "bf16", "context": 512, "cpu_ram_gib": 8}}'
    answer = api.post("/api/v1/models/fit", body, content_type="application/json")
    assert answer.status_code == 400, answer.content
    assert "not a decoder config.json" in answer.json()["detail"]
