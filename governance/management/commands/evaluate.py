"""``manage.py evaluate --set N [--user NAME]``: run an evaluation set now, as that user (default: the
collection's owner), and print each question's results and the totals. ``manage.py evaluate --compare A B``:
the deltas of run B against run A."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.audit import Actor
from governance.compliance.evaluation import evaluation_run
from governance.compliance.evaluation_compare import evaluation_compare
from governance.models import EvaluationRun, EvaluationSet

# Whoever runs manage.py has the server's shell: an administrator, known to the trail by the command only.
OPERATOR = Actor(role="admin")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


class Command(BaseCommand):
    help = "Run an evaluation set against the current model and settings, or compare two runs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--set", type=int, dest="set_id", help="The evaluation set to run")
        parser.add_argument("--user", help="Ask as this user (default: the collection's owner)")
        parser.add_argument("--compare", type=int, nargs=2, metavar=("A", "B"), help="Compare run B to run A")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["compare"]:
            self._compare(*options["compare"], as_json=options["json"])
            return
        if not options["set_id"]:
            raise CommandError("--set N or --compare A B")
        evaluation_set = (
            EvaluationSet.objects.select_related("collection").filter(pk=options["set_id"]).first()
        )
        if evaluation_set is None:
            raise CommandError(f"No evaluation set {options['set_id']}.")
        user: Any = evaluation_set.collection.owner
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user {options['user']}.")
        run = evaluation_run(set_id=evaluation_set.pk, actor=OPERATOR, run_as=user)
        if options["json"]:
            self.stdout.write(json.dumps({"run": run.pk, "totals": run.totals}))
            return
        self.stdout.write(f"Evaluation run {run.pk} of set {evaluation_set.pk} ({run.model}) as {user}:")
        for result in run.results.select_related("item"):
            self.stdout.write(
                f"  [{result.item_id}] {result.item.question[:60]!r}: retrieved {result.retrieved_document_ids}, "
                f"recall@k {_fmt(result.recall_at_k)}, RR {_fmt(result.reciprocal_rank)}, "
                f"cited fact {_fmt(result.citation_has_fact)}, answer fact {_fmt(result.answer_has_fact)}, "
                f"not found {_fmt(result.not_found)} (correct {_fmt(result.correct_not_found)}), "
                f"TTFT {_fmt(result.ttft_ms)} ms, total {result.total_ms} ms, "
                f"tokens {result.prompt_tokens}+{result.completion_tokens}"
                + (f", error: {result.error}" if result.error else "")
            )
        self.stdout.write("Totals: " + ", ".join(f"{k} {_fmt(v)}" for k, v in run.totals.items()))

    def _compare(self, a: int, b: int, *, as_json: bool) -> None:
        runs = {run.pk: run for run in EvaluationRun.objects.filter(pk__in=[a, b])}
        if a not in runs or b not in runs:
            raise CommandError("No such run.")
        comparison = evaluation_compare(run_a=runs[a], run_b=runs[b])
        if as_json:
            self.stdout.write(json.dumps(comparison))
            return
        self.stdout.write(f"Run {b} ({runs[b].model}) against run {a} ({runs[a].model}):")
        for item in comparison["items"]:
            changed = {k: v for k, v in item["delta"].items() if v}
            self.stdout.write(
                f"  [{item['item']}] " + (", ".join(f"{k} {v:+g}" for k, v in changed.items()) or "same")
            )
        self.stdout.write(
            "Totals delta: " + ", ".join(f"{k} {_fmt(v)}" for k, v in comparison["totals_delta"].items())
        )
