"""The licence catalogue as plain data: the JSON form of a licence (API, audit trail) and the columns of its
editable row (inference.models.LicenceEntry). Pure: no database, no Django.

Both readers validate as the Licence dataclass does (an unknown permission, a restricted axis without its
condition) and add that every licence cites at least one source with a URL; they raise ValueError with the
reason."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from inference.licences import Licence, Source, Term, UserThreshold


def licence_to_dict(licence: Licence) -> dict[str, Any]:
    """JSON-ready form of a licence; ``licence_from_dict`` reads it back."""
    return asdict(licence)


def licence_plain(licence: Licence) -> dict[str, Any]:
    """``licence_to_dict`` as stored in JSON (tuples become lists), for comparisons with a stored text."""
    plain: dict[str, Any] = json.loads(json.dumps(licence_to_dict(licence)))
    return plain


def licence_from_dict(data: dict[str, Any]) -> Licence:
    """A Licence from its plain-data form. Raises ValueError (with the reason) when the data is not a valid
    licence: an unknown permission, a restricted axis without its condition, a source without a URL."""
    try:
        threshold = data.get("user_threshold")
        sources = tuple(Source(str(s["fact"]), str(s["url"])) for s in data.get("sources") or ())
        if not sources or any(not s.url.startswith(("https://", "http://")) for s in sources):
            raise ValueError("every licence cites at least one source, each with an http(s) URL")
        if not str(data.get("title") or "").strip():
            raise ValueError("a licence needs a title")
        if threshold and int(threshold["monthly_active_users"]) < 0:
            raise ValueError("a user threshold cannot be negative")
        if isinstance(data.get("notices"), str):
            raise ValueError("notices is a list of sentences, not one string")
        return Licence(
            id=str(data["id"]),
            title=str(data["title"]),
            commercial_use=Term(**data["commercial_use"]),
            derivatives=Term(**data["derivatives"]),
            outputs_to_train_other_models=Term(**data["outputs_to_train_other_models"]),
            sources=sources,
            user_threshold=UserThreshold(
                monthly_active_users=int(threshold["monthly_active_users"]),
                commercial_use_only=bool(threshold["commercial_use_only"]),
                text=str(threshold["text"]),
            )
            if threshold
            else None,
            acceptable_use_policy=str(data.get("acceptable_use_policy") or ""),
            attribution=str(data.get("attribution") or ""),
            derivative_name_prefix=str(data.get("derivative_name_prefix") or ""),
            notices=tuple(str(n) for n in data.get("notices") or ()),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a licence: missing or malformed {exc}") from exc


def entry_values(licence: Licence) -> dict[str, Any]:
    """A licence as the columns of its LicenceEntry row."""
    threshold = licence.user_threshold
    return {
        "title": licence.title,
        "commercial_use": licence.commercial_use.permission,
        "commercial_use_condition": licence.commercial_use.condition,
        "derivatives": licence.derivatives.permission,
        "derivatives_condition": licence.derivatives.condition,
        "outputs_to_train_other_models": licence.outputs_to_train_other_models.permission,
        "outputs_to_train_other_models_condition": licence.outputs_to_train_other_models.condition,
        "user_threshold_mau": threshold.monthly_active_users if threshold else None,
        "user_threshold_commercial_use_only": threshold.commercial_use_only if threshold else False,
        "user_threshold_text": threshold.text if threshold else "",
        "acceptable_use_policy": licence.acceptable_use_policy,
        "attribution": licence.attribution,
        "derivative_name_prefix": licence.derivative_name_prefix,
        "notices": list(licence.notices),
        "sources": [{"fact": src.fact, "url": src.url} for src in licence.sources],
    }


ENTRY_FIELDS = (
    "title",
    "commercial_use",
    "commercial_use_condition",
    "derivatives",
    "derivatives_condition",
    "outputs_to_train_other_models",
    "outputs_to_train_other_models_condition",
    "user_threshold_mau",
    "user_threshold_commercial_use_only",
    "user_threshold_text",
    "acceptable_use_policy",
    "attribution",
    "derivative_name_prefix",
    "notices",
    "sources",
)


def licence_from_values(key: str, values: Mapping[str, Any]) -> Licence:
    """A Licence from the columns of its row (``entry_values``' form)."""
    mau = values.get("user_threshold_mau")
    return licence_from_dict(
        {
            "id": key,
            "title": values.get("title"),
            "commercial_use": {
                "permission": values.get("commercial_use"),
                "condition": values.get("commercial_use_condition") or "",
            },
            "derivatives": {
                "permission": values.get("derivatives"),
                "condition": values.get("derivatives_condition") or "",
            },
            "outputs_to_train_other_models": {
                "permission": values.get("outputs_to_train_other_models"),
                "condition": values.get("outputs_to_train_other_models_condition") or "",
            },
            "user_threshold": {
                "monthly_active_users": mau,
                "commercial_use_only": bool(values.get("user_threshold_commercial_use_only")),
                "text": values.get("user_threshold_text") or "",
            }
            if mau is not None
            else None,
            "acceptable_use_policy": values.get("acceptable_use_policy") or "",
            "attribution": values.get("attribution") or "",
            "derivative_name_prefix": values.get("derivative_name_prefix") or "",
            "notices": values.get("notices") or [],
            "sources": values.get("sources") or [],
        }
    )
