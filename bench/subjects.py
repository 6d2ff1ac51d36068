"""Data-subject requests at scale: how long finding, exporting and erasing one person takes.

    .venv/bin/python bench/subjects.py [--sizes 10000 100000] [--mentions 50] [--repeat 5]

The corpus is bench/search.py's (realistic vectors, Zipf text); one person is planted in ``--mentions``
chunks spread over the collections — national id, e-mail and name written in the chunk text, rows in the
subject index — plus cached answers quoting some of them. Reported per size: ``subject_find`` (subject index
+ the exact regular-expression search over every stored text), the access export, and an erasure end to end
(one transaction, verification included), then the VACUUM that reclaims the rows. The erasure is measured in
a transaction that is rolled back, ``--repeat`` times, and once for real.
"""

from __future__ import annotations

import argparse
import random
import time

from common import Vocabulary, bench_inventory, percentile, setup_django

TCKN = "10000000146"
EMAIL = "ayse.yilmaz@example.com"
NAME = "Ayşe Yılmaz"


def plant(mentions: int, rng: random.Random) -> list[int]:
    from django.contrib.auth import get_user_model

    from governance.models import SubjectMention
    from governance.pii.redaction import subject_key
    from rag.models import Answer, Chunk, Citation, Collection, Conversation

    for collection in Collection.objects.all():
        bench_inventory(collection)
    ids = list(Chunk.objects.values_list("pk", flat=True))
    chosen = rng.sample(ids, mentions)
    rows = []
    for chunk in Chunk.objects.filter(pk__in=chosen):
        chunk.text += f" Müşteri {NAME}, T.C. kimlik no {TCKN}, e-posta {EMAIL}."
        chunk.save(update_fields=["text"])
        for entity_type, value in (("TCKN", TCKN), ("EMAIL", EMAIL), ("PERSON", NAME)):
            rows.append(
                SubjectMention(
                    subject=subject_key(entity_type, value),
                    entity_type=entity_type,
                    chunk_id=chunk.pk,
                    document_id=chunk.document_id,
                    collection_id=chunk.collection_id,
                )
            )
    SubjectMention.objects.bulk_create(rows)
    user = get_user_model().objects.get(username="bench-reader")
    for chunk in Chunk.objects.filter(pk__in=chosen[:10]):
        conversation = Conversation.objects.create(user=user, title="bench")
        answer = Answer.objects.create(conversation=conversation, question="q", text="a [1]")
        Citation.objects.create(
            answer=answer, n=1, chunk=chunk, document_id=chunk.document_id, snippet=chunk.text[:300]
        )
    return chosen


def measure(size: int, mentions: int, repeat: int, rng: random.Random, vocabulary: Vocabulary) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from search import build

    from governance.audit import Actor
    from governance.compliance.subjects import (
        identifiers_clean,
        subject_access_export,
        subject_find,
        subject_request_create,
        subject_request_process,
    )
    from governance.models import SubjectRequest

    build(size, rng, vocabulary)
    chosen = plant(mentions, rng)
    identifiers = identifiers_clean({"tckn": TCKN, "email": EMAIL, "name": NAME})
    find_ms, export_ms = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        found = subject_find(identifiers)
        find_ms.append((time.perf_counter() - started) * 1000)
        assert found.chunks == set(chosen), (len(found.chunks), len(chosen))
        started = time.perf_counter()
        export = subject_access_export(identifiers)
        export_ms.append((time.perf_counter() - started) * 1000)
        assert export["summary"]["passages"] == mentions

    from django.contrib.auth.models import Group

    from governance.roles import COMPLIANCE_GROUP

    officer, _ = get_user_model().objects.get_or_create(username="bench-officer")
    officer.groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    actor = Actor(user_id=officer.pk, role="compliance_officer")

    class Rollback(Exception):
        pass

    erase_ms = []
    for _ in range(repeat):
        try:
            with transaction.atomic():
                request = subject_request_create(
                    kind="erasure", identifiers=identifiers, user=officer, actor=actor
                )
                SubjectRequest.objects.filter(pk=request.pk).update(status="queued")
                started = time.perf_counter()
                done = subject_request_process(request_id=request.pk, actor=actor)
                erase_ms.append((time.perf_counter() - started) * 1000)
                assert done is not None and done.status == "completed", done and done.error
                raise Rollback
        except Rollback:
            pass
    request = subject_request_create(kind="erasure", identifiers=identifiers, user=officer, actor=actor)
    SubjectRequest.objects.filter(pk=request.pk).update(status="queued")
    started = time.perf_counter()
    done = subject_request_process(request_id=request.pk, actor=actor)  # outside a transaction: VACUUM runs
    real_ms = (time.perf_counter() - started) * 1000
    assert done is not None and done.status == "completed"
    counts = done.result["counts"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM rag_chunk")
        left = cursor.fetchone()[0]
    print(
        f"{size:>7} chunks, {mentions} mentions: find p50 {percentile(find_ms, 50):.0f} ms "
        f"(max {max(find_ms):.0f}), access export p50 {percentile(export_ms, 50):.0f} ms, "
        f"erasure p50 {percentile(erase_ms, 50):.0f} ms (max {max(erase_ms):.0f}); "
        f"for real incl. VACUUM {real_ms:.0f} ms — removed {counts['chunks']} chunks, "
        f"{counts['answers']} answers; {left} chunks left",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--mentions", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    setup_django()
    rng = random.Random(11)
    vocabulary = Vocabulary()
    for size in args.sizes:
        measure(size, args.mentions, args.repeat, rng, vocabulary)


if __name__ == "__main__":
    main()
