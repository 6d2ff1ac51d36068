"""Portal pages of the governance layer: a collection's personal-data policy and a redaction preview."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from governance.audit import actor_for
from governance.pii.policies import policy_for_collection, redaction_policy_set
from governance.pii.redaction import ENTITY_TYPES, Action
from rag import selectors

ACTION_LABELS = {
    Action.MASK: gettext_lazy("mask: a numbered placeholder such as <TCKN_1>"),
    Action.HASH: gettext_lazy("hash: a pseudonym, the same for the same value everywhere"),
    Action.DROP: gettext_lazy("drop: removed"),
    Action.KEEP: gettext_lazy("keep: stored as written"),
}


@login_required
def collection_privacy(request: HttpRequest, collection_id: int) -> HttpResponse:
    """Readers see the policy and can preview it; administrators (staff) change it. A change re-ingests the
    collection's documents (``redaction_policy_set``)."""
    from rag.views import _base_context

    try:
        collection = selectors.collection_get(user=request.user, ref=collection_id)
    except selectors.NotFound as exc:
        raise Http404(str(exc)) from exc
    message, status = "", 200
    if request.method == "POST":
        if not request.user.is_staff:
            return HttpResponse(_("Only administrators may change a redaction policy."), status=403)
        rules = {t: request.POST.get(t, Action.MASK) for t in ENTITY_TYPES}
        try:
            _policy, queued = redaction_policy_set(
                collection_id=collection.pk, rules=rules, user=request.user, actor=actor_for(request)
            )
            message = _("Policy saved. %(count)d document(s) are being processed again under it.") % {
                "count": queued
            }
        except ValueError as exc:
            message, status = str(exc), 400
    policy = policy_for_collection(collection.pk)
    rows = [{"type": t, "label": label, "action": str(policy.action(t))} for t, label in ENTITY_TYPES.items()]
    context = {
        **_base_context(request),
        "collection": collection,
        "rows": rows,
        "actions": [(str(a), ACTION_LABELS[a]) for a in (Action.MASK, Action.HASH, Action.DROP, Action.KEEP)],
        "can_edit": request.user.is_staff,
        "message": message,
    }
    return render(request, "portal/privacy.html", context, status=status)
