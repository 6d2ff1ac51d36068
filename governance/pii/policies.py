"""Reading and changing collections' redaction policies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction

from governance.audit import Actor, audit_record
from governance.models import RedactionPolicy
from governance.pii.redaction import Policy
from governance.roles import role_of


def policy_for_collection(collection_id: int) -> Policy:
    row = RedactionPolicy.objects.filter(collection_id=collection_id).only("rules").first()
    return Policy.from_rules(row.rules) if row is not None else Policy.strict()


def policies_for_collections(collection_ids: Iterable[int]) -> dict[int, Policy]:
    ids = list(collection_ids)
    rows = dict(RedactionPolicy.objects.filter(collection_id__in=ids).values_list("collection_id", "rules"))
    return {cid: Policy.from_rules(rows[cid]) if cid in rows else Policy.strict() for cid in ids}


def redaction_policy_set(
    *, collection_id: int, rules: Mapping[str, str], user: Any, actor: Actor | None = None
) -> tuple[Policy, int]:
    """Store a collection's policy and re-ingest its documents under it (chunks written under the old policy
    would otherwise keep what the new one removes). Returns the policy and how many documents were queued.
    Raises ValueError for an unknown entity type or action."""
    from rag.services.documents import collection_reingest

    policy = Policy.from_rules(rules)
    with transaction.atomic():
        RedactionPolicy.objects.update_or_create(
            collection_id=collection_id, defaults={"rules": dict(policy.actions), "updated_by": user}
        )
        queued = collection_reingest(collection_id=collection_id)
        audit_record(
            action="policy.change",
            actor=actor or Actor(user_id=getattr(user, "pk", None), role=role_of(user)),
            target_type="collection",
            target_id=collection_id,
            collection_id=collection_id,
            details={"rules": policy.rules(), "documents_requeued": queued},
        )
    return policy, queued
