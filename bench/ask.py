"""Emanet's overhead on time to first token: POST /api/v1/ask (stream) vs. the same prompt sent straight to vLLM.

    .venv/bin/python bench/ask.py [--docs 300] [--questions 40]

Uses the bundled vLLM (CPU, SmolLM2-135M) on a free port unless LLM_BASE_URL is set. Builds a corpus of
generated policy documents plus a few with distinctive facts, then for each question measures
  * direct: time to the first content delta of /v1/chat/completions (stream) with the exact messages Emanet
    built for that question;
  * emanet: time from sending POST /api/v1/ask {stream: true} (Django's in-process client, session auth) to
    the first `token` event: access check, query embedding, hybrid search, prompt fitting with the model's
    /tokenize, then the model's own time to first token.
The difference per question is Emanet's overhead. The order of the two alternates per question so vLLM's
prefix cache favours neither side.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import socket
import time

from common import bench_inventory, paragraph, percentile, setup_django

FACTS = [
    ("The Kestrel project launch code is BLUEFIN-{n}.", "What is the Kestrel project launch code?"),
    (
        "The Ankara office Wi-Fi network is called ORCHID-{n}.",
        "What is the Ankara office Wi-Fi network called?",
    ),
    (
        "Expense reports above {n} euros need the CFO's approval.",
        "Which expense reports need the CFO's approval?",
    ),
    (
        "The data centre in Izmir is inspected every {n} days.",
        "How often is the Izmir data centre inspected?",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument(
        "--gap",
        type=float,
        default=2.0,
        help="seconds of idle between requests. On a 2-core machine the CPU vLLM engine keeps the cores busy "
        "for ~1 s after a generation, which stalls the next query embedding by ~0.5 s; 0 measures that too",
    )
    args = parser.parse_args()
    setup_django()

    import httpx
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from inference import local_server
    from rag.models import Collection, Document
    from rag.services.answers import answer_prepare
    from rag.services.documents import document_create
    from rag.services.ingest import document_ingest

    process = None
    if not settings.LLM_BASE_URL:
        port = free_port()
        print(f"starting the bundled vLLM on port {port} ...", flush=True)
        process = local_server.start(port=port, log_path=settings.DATA_DIR / "bench-vllm.log")
        settings.LLM_BASE_URL = f"http://127.0.0.1:{port}/v1"
        settings.LLM_MODEL = local_server.MODEL_NAME
    try:
        user, _ = get_user_model().objects.get_or_create(username="bench-ask")
        collection, _ = Collection.objects.get_or_create(name="bench-ask", defaults={"owner": user})
        bench_inventory(collection)
        rng = random.Random(7)
        existing = Document.objects.filter(collection=collection, status="ready").count()
        if existing < args.docs:
            print(f"ingesting {args.docs - existing} documents ...", flush=True)
            for index in range(existing, args.docs):
                text = "\n\n".join(paragraph(rng, 120) for _ in range(3))
                if index < len(FACTS):
                    text += "\n\n" + FACTS[index][0].format(n=4000 + index)
                document, _ = document_create(
                    collection=collection,
                    uploaded_by=user,
                    stream=io.BytesIO(text.encode()),
                    filename=f"policy-{index}.txt",
                    title=f"Policy {index}",
                )
                document_ingest(document_id=document.pk, task_id="bench")
        # Short answers on both sides: TTFT is what is measured, and no generation may outlive its request.
        settings.ANSWER_MAX_TOKENS = 8
        client = Client(HTTP_HOST="localhost")  # an allowed host (ALLOWED_HOSTS)
        client.force_login(user)
        http = httpx.Client(base_url=settings.LLM_BASE_URL, timeout=120, trust_env=False)

        def direct_ttft(messages: list[dict[str, str]]) -> float:
            payload = {
                "model": settings.LLM_MODEL,
                "messages": messages,
                "max_tokens": settings.ANSWER_MAX_TOKENS,
                "temperature": 0.1,
                "stream": True,
            }
            start = time.perf_counter()
            first = None
            with http.stream("POST", "/chat/completions", json=payload) as response:
                for line in response.iter_lines():  # read to the end: no generation left running
                    if first is None and line.startswith("data:") and '"content"' in line:
                        event = json.loads(line[5:])
                        if event["choices"] and event["choices"][0]["delta"].get("content"):
                            first = time.perf_counter() - start
            if first is None:
                raise RuntimeError("no token")
            return first

        def emanet_ttft(question: str) -> float:
            start = time.perf_counter()
            response = client.post(
                "/api/v1/ask", {"question": question, "stream": True}, content_type="application/json"
            )
            assert response.status_code == 200, response.status_code
            first = None
            for part in response.streaming_content:  # read to the end, like the direct side
                if first is None and part.startswith(b"event: token"):
                    first = time.perf_counter() - start
            if first is None:
                raise RuntimeError("no token")
            return first

        questions = [FACTS[i % len(FACTS)][1] for i in range(args.questions)]
        for question in questions[:3]:  # warm up: model load, caches, connections
            emanet_ttft(question)
        direct: list[float] = []
        emanet: list[float] = []
        overhead: list[float] = []
        for index, question in enumerate(questions):
            messages = answer_prepare(user=user, question=question).messages
            time.sleep(args.gap)
            if index % 2:
                e = emanet_ttft(question)
                time.sleep(args.gap)
                d = direct_ttft(messages)
            else:
                d = direct_ttft(messages)
                time.sleep(args.gap)
                e = emanet_ttft(question)
            direct.append(d)
            emanet.append(e)
            overhead.append(e - d)
        ms = 1000.0
        print(
            f"\n{len(questions)} questions, {args.docs} documents, model {settings.LLM_MODEL}, "
            f"{args.gap:g} s between requests"
        )
        rows = (
            ("direct vLLM TTFT", direct),
            ("Emanet TTFT", emanet),
            ("overhead", overhead),
        )
        for name, values in rows:
            print(
                f"{name:18s} p50 {percentile(values, 50) * ms:7.1f} ms   p95 {percentile(values, 95) * ms:7.1f} ms"
            )
    finally:
        if process is not None:
            process.terminate()
            process.wait(30)


if __name__ == "__main__":
    main()
