"""Emanet's overhead on time to first token: POST /api/v1/ask (stream) vs. the same prompt sent straight to vLLM.

    .venv/bin/python bench/ask.py [--docs 300] [--questions 40] [--gap 2] [--no-prefix-caching]

Uses the bundled vLLM (CPU, SmolLM2-135M) on a free port unless LLM_BASE_URL is set. Builds a corpus of
generated policy documents plus a few with distinctive facts, then for each question measures
  * direct: time to the first content delta of /v1/chat/completions (stream) with the exact messages Emanet
    built for that question;
  * emanet: time from sending POST /api/v1/ask {stream: true} (Django's in-process client, session auth) to
    the first `token` event: access check, query embedding, hybrid search, prompt fitting with the model's
    /tokenize, then the model's own time to first token.
The difference per question is Emanet's overhead. The order of the two alternates per question so vLLM's
prefix cache favours neither side on average; per question it favours whichever side goes second (the same
prompt, already cached), so the overhead's tail mixes Emanet's time with the cache's. Hence two more figures:
  * Emanet's own pre-model time, measured by the server (``prepare_ms`` of the stream's `done` event, stored
    on the answer): from the request's arrival to the request to the model server — authentication, query
    embedding, hybrid search, PII redaction, prompt fitting (/tokenize), the serving gate. No model time in it.
  * time to the `sources` event (the client's view: sent once the model server has accepted the request).
``--no-prefix-caching`` starts the bundled vLLM with ``--no-enable-prefix-caching`` (both sides then pay the
full prompt read every time); with LLM_BASE_URL set the server's own setting applies. The in-process client
stands in for a gunicorn worker, so the embedding's threads are capped as there (EMBEDDING_WEB_THREADS; set it
to 0 to compare with torch's default of one per core).
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
        "--no-prefix-caching",
        action="store_true",
        help="start the bundled vLLM with --no-enable-prefix-caching (vLLM's CPU build caches prefixes by default)",
    )
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

    from inference import embeddings, local_server
    from rag.models import Collection, Document
    from rag.services.answers import answer_prepare
    from rag.services.documents import document_create
    from rag.services.ingest import document_ingest

    process = None
    prefix_caching = "the server's own setting (LLM_BASE_URL)"
    if not settings.LLM_BASE_URL:
        port = free_port()
        print(f"starting the bundled vLLM on port {port} ...", flush=True)
        extra = ["--no-enable-prefix-caching"] if args.no_prefix_caching else []
        process = local_server.start(
            port=port, log_path=settings.DATA_DIR / "bench-vllm.log", extra_args=extra
        )
        settings.LLM_BASE_URL = f"http://127.0.0.1:{port}/v1"
        settings.LLM_MODEL = local_server.MODEL_NAME
        prefix_caching = "off" if args.no_prefix_caching else "on (vLLM's default)"
    elif args.no_prefix_caching:
        parser.error(
            "--no-prefix-caching starts the bundled server; with LLM_BASE_URL, configure that server"
        )
    embeddings.threads_limit(settings.EMBEDDING_WEB_THREADS)  # as config/gunicorn.py does in a web worker
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

        def emanet_ttft(question: str) -> tuple[float, float, float]:
            """(time to the first token, time to the sources event, the server's prepare_ms in seconds)"""
            start = time.perf_counter()
            response = client.post(
                "/api/v1/ask", {"question": question, "stream": True}, content_type="application/json"
            )
            assert response.status_code == 200, response.status_code
            first = sources = None
            done: dict[str, object] = {}
            for part in response.streaming_content:  # read to the end, like the direct side
                if sources is None and part.startswith(b"event: sources"):
                    sources = time.perf_counter() - start
                if first is None and part.startswith(b"event: token"):
                    first = time.perf_counter() - start
                if part.startswith(b"event: done"):
                    done = json.loads(part.split(b"data: ", 1)[1])
            if first is None or sources is None or done.get("prepare_ms") is None:
                raise RuntimeError(f"no token, no sources event or no prepare_ms: {done}")
            return first, sources, float(str(done["prepare_ms"])) / 1000

        questions = [FACTS[i % len(FACTS)][1] for i in range(args.questions)]
        for question in questions[:3]:  # warm up: model load, caches, connections
            emanet_ttft(question)
        direct: list[float] = []
        emanet: list[float] = []
        overhead: list[float] = []
        to_sources: list[float] = []
        prepare: list[float] = []
        for index, question in enumerate(questions):
            messages = answer_prepare(user=user, question=question).messages
            time.sleep(args.gap)
            if index % 2:
                e, s, p = emanet_ttft(question)
                time.sleep(args.gap)
                d = direct_ttft(messages)
            else:
                d = direct_ttft(messages)
                time.sleep(args.gap)
                e, s, p = emanet_ttft(question)
            direct.append(d)
            emanet.append(e)
            overhead.append(e - d)
            to_sources.append(s)
            prepare.append(p)
        ms = 1000.0
        print(
            f"\n{len(questions)} questions, {args.docs} documents, model {settings.LLM_MODEL}, "
            f"{args.gap:g} s between requests, prefix caching {prefix_caching}, "
            f"EMBEDDING_WEB_THREADS={settings.EMBEDDING_WEB_THREADS}"
        )
        rows = (
            ("direct vLLM TTFT", direct),
            ("Emanet TTFT", emanet),
            ("overhead", overhead),
            ("to sources event", to_sources),
            ("prepare_ms (server)", prepare),
        )
        for name, values in rows:
            print(
                f"{name:20s} p50 {percentile(values, 50) * ms:7.1f} ms   p95 {percentile(values, 95) * ms:7.1f} ms"
            )
    finally:
        if process is not None:
            process.terminate()
            process.wait(30)


if __name__ == "__main__":
    main()
