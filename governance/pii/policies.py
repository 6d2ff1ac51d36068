"""Reading and storing collections' redaction policies."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from governance.models import RedactionPolicy
from governance.pii.redaction import Policy


def policy_for_collection(collection_id: int) -> Policy:
    row = RedactionPolicy.objects.filter(collection_id=collection_id).only("rules").first()
    return Policy.from_rules(row.rules) if row is not None else Policy.strict()


def policies_for_collections(collection_ids: Iterable[int]) -> dict[int, Policy]:
    ids = list(collection_ids)
    rows = dict(RedactionPolicy.objects.filter(collection_id__in=ids).values_list("collection_id", "rules"))
    return {cid: Policy.from_rules(rows[cid]) if cid in rows else Policy.strict() for cid in ids}


def redaction_policy_store(*, collection_id: int, policy: Policy, user: Any) -> None:
    """Store a collection's policy. Call inside the caller's transaction: a changed policy also re-ingests
    the collection's documents (``rag.services.collections.redaction_policy_set`` does both, audited)."""
    RedactionPolicy.objects.update_or_create(
        collection_id=collection_id, defaults={"rules": dict(policy.actions), "updated_by": user}
    )
