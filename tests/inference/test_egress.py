from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from inference.egress import EgressRefused, check_configured, check_url
from tests.conftest import ROOT, WAIT_S


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8001/v1",
        "http://localhost:8001/v1",
        "http://[::1]:8001/v1",
        "https://10.20.30.40/v1",
        "http://172.20.0.5:8000/v1",
        "http://192.168.1.10:8000/v1",
    ],
)
def test_loopback_and_private_endpoints_are_allowed(url: str) -> None:
    assert check_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://8.8.8.8:8000/v1", "resolves to 8.8.8.8, outside ALLOWED_MODEL_NETWORKS"),
        ("https://[2001:4860:4860::8888]/v1", "outside ALLOWED_MODEL_NETWORKS"),
        ("http://169.254.169.254/latest", "resolves to 169.254.169.254"),  # cloud metadata service
        ("http://172.32.0.1/v1", "outside"),  # just past 172.16.0.0/12
        ("http://model.does-not-exist.invalid/v1", "cannot resolve"),
        ("ftp://127.0.0.1/v1", "not an http(s) URL"),
        ("127.0.0.1:8000", "not an http(s) URL"),
    ],
)
def test_public_link_local_unresolvable_and_odd_endpoints_are_refused(url: str, reason: str) -> None:
    with pytest.raises(EgressRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_url(url, setting="LLM_BASE_URL")


def test_allow_list_is_configurable(settings: Any) -> None:
    settings.ALLOWED_MODEL_NETWORKS = ["10.1.0.0/16"]
    assert check_url("http://10.1.2.3/v1")
    with pytest.raises(EgressRefused):
        check_url("http://127.0.0.1/v1")
    settings.ALLOWED_MODEL_NETWORKS = ["not-a-network"]
    with pytest.raises(EgressRefused, match="invalid network"):
        check_url("http://10.1.2.3/v1")


def test_configured_endpoints_are_checked(settings: Any) -> None:
    settings.LLM_BASE_URL = "http://127.0.0.1:8001/v1"
    check_configured()
    settings.LLM_BASE_URL = "http://1.1.1.1/v1"
    with pytest.raises(EgressRefused, match="LLM_BASE_URL"):
        check_configured()


def test_the_service_refuses_to_start_with_a_public_llm_endpoint() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "LLM_BASE_URL": "http://8.8.8.8/v1",
        },
    )
    assert result.returncode != 0
    assert "Egress guard: LLM_BASE_URL='http://8.8.8.8/v1' resolves to 8.8.8.8" in result.stderr


@pytest.mark.django_db
def test_health_flags_an_endpoint_outside_the_network(alice: Any, client_for: Any, settings: Any) -> None:
    settings.LLM_BASE_URL = "http://127.0.0.1:8001/v1"
    body = client_for(alice).get("/api/v1/health").json()
    assert body["components"]["egress"] == {"status": "ok", "endpoints": {"LLM_BASE_URL": ["127.0.0.1"]}}
    settings.ALLOWED_MODEL_NETWORKS = ["10.0.0.0/8"]
    response = client_for(alice).get("/api/v1/health")
    assert response.status_code == 503
    assert "outside ALLOWED_MODEL_NETWORKS" in response.json()["components"]["egress"]["detail"]
