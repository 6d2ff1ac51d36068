"""The model registry's services and selectors: register a model, declare the organisation's use, recompute
every verdict. A primitive (imports governance.audit, never rag).

Every verdict is recomputed from the licence catalogue in force (the built-in inference.licences.CATALOGUE,
overridden and extended by the organisation's LicenceEntry rows) and the stored declared use, on each
registration, each change of the declaration and each change of the model's licence; each recomputation that runs is audited
(``model.verdict``) with the verdict as details, so the trail shows under which verdict a model was served."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.audit import SYSTEM, Actor, audit_record
from inference.hardware import FitError, ModelShape
from inference.licence_data import (
    ENTRY_FIELDS,
    entry_values,
    licence_from_dict,
    licence_from_values,
    licence_plain,
    licence_to_dict,
)
from inference.licences import (
    CATALOGUE,
    DEFAULT_DECLARED_USE,
    DeclaredUse,
    Licence,
    Verdict,
    verdict,
)
from inference.models import DeclaredUseRecord, LicenceEntry, RegisteredModel
from inference.weights import shape_of, weights_manifest, weights_size
from inference.weights_hashing import hashing_queue


class RegistryError(ValueError):
    """The registration or change cannot be made (unknown licence, unreadable weights, duplicate name).
    ``field``: the input at fault, when one is."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


# --- selectors ----------------------------------------------------------------------------------------------


def declared_use_get() -> DeclaredUse:
    record = DeclaredUseRecord.objects.filter(pk=1).first()
    if record is None:
        return DEFAULT_DECLARED_USE
    return DeclaredUse(**{f.name: getattr(record, f.name) for f in fields(DeclaredUse)})


def licence_of_entry(entry: LicenceEntry) -> Licence:
    return licence_from_values(entry.key, {f: getattr(entry, f) for f in ENTRY_FIELDS})


def licence_catalogue() -> dict[str, Licence]:
    """The catalogue in force: the built-in licences, overridden and extended by the organisation's rows."""
    catalogue = dict(CATALOGUE)
    for entry in LicenceEntry.objects.all():
        catalogue[entry.key] = licence_of_entry(entry)
    return catalogue


def licence_get(key: str) -> Licence | None:
    entry = LicenceEntry.objects.filter(pk=key).first()
    return licence_of_entry(entry) if entry is not None else CATALOGUE.get(key)


def _columns_of_shipped(entry: LicenceEntry) -> dict[str, Any] | None:
    try:
        return entry_values(licence_from_dict(entry.shipped)) if entry.shipped else None
    except ValueError:
        return None


def _edited(entry: LicenceEntry) -> bool:
    """The row's columns differ from the text it was shipped with (columns only: a field a later release adds
    to the catalogue's form does not make every row look edited)."""
    return entry.builtin and entry_values(licence_of_entry(entry)) != _columns_of_shipped(entry)


def licence_review_needed(key: str) -> bool:
    """An edited built-in licence whose shipped text changed since: counsel should compare (reset takes it)."""
    entry = LicenceEntry.objects.filter(pk=key).first()
    return (
        entry is not None
        and key in CATALOGUE
        and _edited(entry)
        and _columns_of_shipped(entry) != entry_values(CATALOGUE[key])
    )


def licence_modified(key: str) -> bool:
    """A built-in licence the organisation edited since Emanet shipped it."""
    entry = LicenceEntry.objects.filter(pk=key).first()
    return entry is not None and _edited(entry)


def model_for_served_name(name: str) -> RegisteredModel | None:
    return RegisteredModel.objects.filter(served_name=name).first()


def model_list() -> list[RegisteredModel]:
    return list(RegisteredModel.objects.order_by("served_name"))


def verdict_of(model: RegisteredModel) -> dict[str, Any]:
    """The stored verdict, in the shape of ``Verdict.as_dict()`` (without the declared use)."""
    return {
        "licence": model.licence_id,
        "status": model.verdict_status,
        "conditions": list(model.verdict_conditions),
        "reasons": list(model.verdict_reasons),
        "computed_at": model.verdict_computed_at.isoformat() if model.verdict_computed_at else None,
    }


SHAPE_FACTS = ("params", "layers", "hidden_size", "heads", "kv_heads", "head_dim", "context_length")


def shape_for(model: RegisteredModel) -> ModelShape:
    """The registered facts as a ModelShape for inference.hardware.fit. Raises FitError when a fact the fit
    needs is missing (a model registered without weights and without those facts)."""
    missing = [name for name in SHAPE_FACTS if not getattr(model, name)]
    if missing:
        raise FitError(f"{model.served_name} lacks the facts a hardware fit needs: {', '.join(missing)}")
    return ModelShape(
        name=model.family or model.served_name,
        params=int(model.params or 0),
        layers=int(model.layers or 0),
        hidden_size=int(model.hidden_size or 0),
        heads=int(model.heads or 0),
        kv_heads=int(model.kv_heads or 0),
        head_dim=int(model.head_dim or 0),
        max_context=int(model.context_length or 0),
        embedding_params=int(model.embedding_params or 0),
        intermediate_size=int(model.intermediate_size or 0),
    )


# --- services: the licence catalogue ---------------------------------------------------------------------


def _store_licence(
    licence: Licence, *, action: str, updated_by: Any, actor: Actor, shipped: bool = False
) -> LicenceEntry:
    """Write the row, audit ``action`` and recompute the verdicts of the models under it. ``shipped``: the
    licence is the built-in text (a reset or a sync), recorded as what Emanet shipped."""
    before = licence_get(licence.id)
    with transaction.atomic():
        entry, _ = LicenceEntry.objects.select_for_update().get_or_create(
            pk=licence.id, defaults={**entry_values(licence), "builtin": licence.id in CATALOGUE}
        )
        for name, value in entry_values(licence).items():
            setattr(entry, name, value)
        entry.builtin = licence.id in CATALOGUE
        if shipped or entry.shipped is None and entry.builtin:
            entry.shipped = licence_plain(CATALOGUE[licence.id])
        entry.updated_by = updated_by
        entry.save()
        audit_record(
            action=action,
            actor=actor,
            target_type="licence",
            target_id=licence.id,
            details={
                "before": licence_to_dict(before) if before is not None else None,
                "after": licence_to_dict(licence),
            },
        )
        users = list(RegisteredModel.objects.select_for_update().filter(licence_id=licence.id))
        if users:
            verdicts_recompute(actor=actor, models=users)
    return entry


def licence_store(
    *, licence: Licence, create: bool = False, updated_by: Any = None, actor: Actor = SYSTEM
) -> LicenceEntry:
    """Store a licence of the catalogue and recompute the verdict of every model under it. ``create``: a new
    licence, refused when the key exists; otherwise the key must be in the catalogue. Audits ``licence.create``
    or ``licence.update`` (details: the licence before and after), then ``model.verdict`` per model."""
    exists = licence_get(licence.id) is not None
    if create and exists:
        raise RegistryError(f"a licence {licence.id!r} is already in the catalogue")
    if not create and not exists:
        raise RegistryError(f"no licence {licence.id!r} in the catalogue")
    return _store_licence(
        licence, action="licence.create" if create else "licence.update", updated_by=updated_by, actor=actor
    )


def licence_reset(*, key: str, updated_by: Any = None, actor: Actor = SYSTEM) -> LicenceEntry:
    """Put a built-in licence back to the text shipped with Emanet. Audits ``licence.reset``."""
    if key not in CATALOGUE:
        raise RegistryError(f"{key!r} is not a built-in licence")
    return _store_licence(
        CATALOGUE[key], action="licence.reset", updated_by=updated_by, actor=actor, shipped=True
    )


def licences_sync_builtin(*, actor: Actor = SYSTEM) -> list[str]:
    """After an upgrade changed the built-in catalogue: add the new built-in licences and bring each built-in
    row the organisation has not edited to the new shipped text (audited ``licence.sync``, verdicts
    recomputed). A row the organisation edited is kept; it is reported for counsel to review (the admin's
    reset action takes the new text). Returns one line per licence added, updated or kept."""
    notes = []
    for key, licence in sorted(CATALOGUE.items()):
        entry = LicenceEntry.objects.filter(pk=key).first()
        if entry is not None and _columns_of_shipped(entry) == entry_values(licence):
            continue
        if entry is not None and _edited(entry):
            notes.append(
                f"{key}: edited locally and the shipped text changed; review it (reset takes the new text)"
            )
            continue
        _store_licence(licence, action="licence.sync", updated_by=None, actor=actor, shipped=True)
        notes.append(f"{key}: {'updated to' if entry is not None else 'added from'} the shipped text")
    return notes


def licence_delete(*, key: str, actor: Actor = SYSTEM) -> None:
    """Remove a licence the organisation added. Built-in licences cannot be removed (reset them instead), nor
    a licence a registered model is under. Audits ``licence.delete``."""
    if key in CATALOGUE:
        raise RegistryError(f"{key!r} is built in: reset it instead of deleting it")
    with transaction.atomic():
        entry = LicenceEntry.objects.select_for_update().filter(pk=key).first()
        if entry is None:
            raise RegistryError(f"no licence {key!r} in the catalogue")
        users = sorted(RegisteredModel.objects.filter(licence_id=key).values_list("served_name", flat=True))
        if users:
            raise RegistryError(f"{key!r} is the licence of registered models: {', '.join(users)}")
        before = licence_to_dict(licence_of_entry(entry))
        entry.delete()
        audit_record(
            action="licence.delete",
            actor=actor,
            target_type="licence",
            target_id=key,
            details={"before": before},
        )


# --- services -----------------------------------------------------------------------------------------------


def _apply_verdict(model: RegisteredModel, answer: Verdict) -> None:
    model.verdict_status = answer.status
    model.verdict_conditions = answer.conditions
    model.verdict_reasons = answer.reasons
    model.verdict_computed_at = timezone.now()
    model.save(
        update_fields=[
            "verdict_status",
            "verdict_conditions",
            "verdict_reasons",
            "verdict_computed_at",
            "updated_at",
        ]
    )


def verdicts_recompute(*, actor: Actor = SYSTEM, models: list[RegisteredModel] | None = None) -> int:
    """Recompute the verdict of the given models (all when None) for the stored declared use. Returns how many
    changed. Audits ``model.verdict`` for each model recomputed (details: the verdict, its declared use and the
    status it had before)."""
    use = declared_use_get()
    catalogue = licence_catalogue()
    changed = 0
    with transaction.atomic():
        targets = models if models is not None else list(RegisteredModel.objects.select_for_update())
        for model in targets:
            before = model.verdict_status
            licence = catalogue.get(model.licence_id)
            if licence is None:
                answer = Verdict(
                    model.licence_id,
                    "blocked",
                    reasons=[f"licence {model.licence_id!r} is not in the catalogue"],
                    use=use,
                )
            else:
                answer = verdict(licence, use)
            _apply_verdict(model, answer)
            changed += before != answer.status
            audit_record(
                action="model.verdict",
                actor=actor,
                target_type="registered_model",
                target_id=model.pk,
                details={**answer.as_dict(), "served_name": model.served_name, "previous_status": before},
            )
    return changed


def registration_check(*, served_name: str, licence_id: str, weights_path: str = "") -> Path | None:
    """What a registration needs before anything is read: a catalogued licence, a new served name, weights (if
    given) that exist under MODEL_WEIGHTS_ROOT. Returns the resolved weights path. Raises RegistryError."""
    if licence_get(licence_id) is None:
        raise RegistryError(
            f"unknown licence {licence_id!r}; one of {sorted(licence_catalogue())}", field="licence_id"
        )
    if RegisteredModel.objects.filter(served_name=served_name).exists():
        raise RegistryError(f"a model named {served_name!r} is already registered", field="served_name")
    if not weights_path:
        return None
    root = Path(settings.MODEL_WEIGHTS_ROOT).resolve()
    path = Path(weights_path).resolve()
    if not path.is_relative_to(root):
        raise RegistryError(f"weights must lie under MODEL_WEIGHTS_ROOT ({root})", field="weights_path")
    if not path.exists():
        raise RegistryError(f"no weights at {weights_path}", field="weights_path")
    return path


def model_register(
    *,
    served_name: str,
    licence_id: str,
    weights_path: str = "",
    family: str = "",
    quantization: str = "bf16",
    facts: dict[str, int] | None = None,
    weights_published: str = "unknown",
    code_published: str = "unknown",
    data_published: str = "unknown",
    created_by: Any = None,
    actor: Actor = SYSTEM,
) -> RegisteredModel:
    """Register a model under its served name. With ``weights_path`` (a model directory with config.json, or a
    GGUF file) the architecture facts are read from it and a SHA-256 manifest of the weight files is stored;
    ``facts`` (params, layers, hidden_size, heads, kv_heads, head_dim, context_length, embedding_params,
    intermediate_size) fill in
    or override them.
    Audits ``model.register`` then ``model.verdict``."""
    path = registration_check(served_name=served_name, licence_id=licence_id, weights_path=weights_path)
    values: dict[str, Any] = {}
    manifest: dict[str, str] = {}
    manifest_status = "none"
    if path is not None:
        try:
            shape = shape_of(path)
        except FitError as exc:
            raise RegistryError(str(exc), field="weights_path") from exc
        family = family or shape.name
        values = {
            "params": shape.params,
            "layers": shape.layers,
            "hidden_size": shape.hidden_size,
            "heads": shape.heads,
            "kv_heads": shape.kv_heads,
            "head_dim": shape.head_dim,
            "context_length": shape.max_context,
            "embedding_params": shape.embedding_params,
            "intermediate_size": shape.intermediate_size or None,
        }
        try:
            if weights_size(path) <= settings.MODEL_HASH_INLINE_BYTES:
                manifest = weights_manifest(path)  # outside the transaction
                manifest_status = "complete"
            else:
                manifest_status = "pending"  # a worker hashes them after the commit (model_weights_hash)
        except OSError as exc:
            raise RegistryError(f"cannot read the weights: {exc}", field="weights_path") from exc
    values.update(facts or {})
    with transaction.atomic():
        model = RegisteredModel.objects.create(
            served_name=served_name,
            family=family,
            quantization=quantization,
            weights_path=weights_path,
            weights_manifest=manifest,
            manifest_status=manifest_status,
            weights_published=weights_published,
            code_published=code_published,
            data_published=data_published,
            licence_id=licence_id,
            created_by=created_by,
            **values,
        )
        audit_record(
            action="model.register",
            actor=actor,
            target_type="registered_model",
            target_id=model.pk,
            details={
                "served_name": served_name,
                "family": family,
                "licence": licence_id,
                "quantization": quantization,
                "weights_path": weights_path,
                "weights_manifest": manifest,
                "manifest_status": manifest_status,
                "facts": values,
            },
        )
        verdicts_recompute(actor=actor, models=[model])
        if manifest_status == "pending":
            hashing_queue(model.pk)
    model.refresh_from_db()
    return model


FACT_FIELDS = (*SHAPE_FACTS, "embedding_params", "intermediate_size")


def model_update(
    *,
    model: RegisteredModel,
    licence_id: str | None = None,
    facts: dict[str, int] | None = None,
    actor: Actor = SYSTEM,
) -> RegisteredModel:
    """Change a registered model's licence (counsel re-read it) or its architecture facts (a model registered
    before a fact was kept). Audits ``model.update`` (before and after), then ``model.verdict``."""
    facts = facts or {}
    unknown = set(facts) - set(FACT_FIELDS)
    if unknown:
        raise RegistryError(f"unknown facts: {', '.join(sorted(unknown))}", field="facts")
    if licence_id is not None and licence_get(licence_id) is None:
        raise RegistryError(f"unknown licence {licence_id!r}", field="licence_id")
    with transaction.atomic():
        locked = RegisteredModel.objects.select_for_update().get(pk=model.pk)
        changes = {**({"licence_id": licence_id} if licence_id is not None else {}), **facts}
        before = {name: getattr(locked, name) for name in changes}
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*changes, "updated_at"])
        audit_record(
            action="model.update",
            actor=actor,
            target_type="registered_model",
            target_id=locked.pk,
            details={"served_name": locked.served_name, "before": before, "after": changes},
        )
        verdicts_recompute(actor=actor, models=[locked])
    locked.refresh_from_db()
    return locked


def model_unregister(*, model: RegisteredModel, actor: Actor = SYSTEM) -> None:
    """Remove a model from the registry: the serving gate refuses it from the next question on (enforce).
    Audits ``model.unregister`` with what was registered (facts, licence, verdict, manifest, evaluations)."""
    with transaction.atomic():
        locked = RegisteredModel.objects.select_for_update().filter(pk=model.pk).first()
        if locked is None:
            return
        details = {
            "served_name": locked.served_name,
            "family": locked.family,
            "licence": locked.licence_id,
            "verdict": locked.verdict_status,
            "facts": {name: getattr(locked, name) for name in FACT_FIELDS},
            "weights_manifest": locked.weights_manifest,
            "evaluations": locked.evaluations,
        }
        locked.delete()
        audit_record(
            action="model.unregister",
            actor=actor,
            target_type="registered_model",
            target_id=model.pk,
            details=details,
        )


def declared_use_set(*, use: DeclaredUse, updated_by: Any = None, actor: Actor = SYSTEM) -> DeclaredUseRecord:
    """Store the organisation's declared use and recompute every model's verdict. Audits ``declared_use.set``
    (details: before and after) and one ``model.verdict`` per model."""
    with transaction.atomic():
        record, _ = DeclaredUseRecord.objects.select_for_update().get_or_create(pk=1)
        before = declared_use_get()
        for name, value in asdict(use).items():
            setattr(record, name, value)
        record.updated_by = updated_by
        record.save()
        audit_record(
            action="declared_use.set",
            actor=actor,
            target_type="declared_use",
            target_id=record.pk,
            details={"before": asdict(before), "after": asdict(use)},
        )
        verdicts_recompute(actor=actor)
    return record
