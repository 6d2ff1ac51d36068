"""The portal in a real browser (Debian's Chromium driven by Playwright) against a live server, a real Celery
worker and the real local vLLM: log in, upload, watch it become ready, ask, read the streamed answer, open a
citation, rate it, switch to Turkish, and check the layout on a phone-sized screen."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.models import Answer, AnswerFeedback, Collection, Document
from tests.conftest import WAIT_S, WorkerProcess, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
FACT = (
    "Kestrel project handbook.\n\n"
    "The launch code of the Kestrel project is BLUEFIN-4471. Only the project lead may use it.\n\n"
    "The cafeteria serves lentil soup on Mondays.\n"
)


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium chromium-driver (scripts/test.sh does)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls in the test body are still
    # synchronous and safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                timeout=WAIT_S * 1000,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                ],
            )
            context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
            page = context.new_page()
            # Every wait below is for an element, a URL or a load state; this bound is only a safety net.
            page.set_default_timeout(WAIT_S * 1000)
            yield page
            shots = Path(os.environ.get("EMANET_SCREENSHOTS", tmp_path))
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "last.png"), full_page=True)
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def test_upload_ask_cite_rate_and_switch_language(
    browser_page: Any,
    live_server: Any,
    celery_worker: WorkerProcess,
    llm: str,
    alice: Any,
    collection_a: Collection,
    tmp_path: Path,
) -> None:
    page = browser_page
    shots = Path(os.environ.get("EMANET_SCREENSHOTS", tmp_path))
    alice.set_password("portal-pass-1")
    alice.save()
    url = live_server.url

    # Log in.
    page.goto(f"{url}/")
    assert page.url.startswith(f"{url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "portal-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")

    # Upload and watch it go queued/processing → ready.
    handbook = tmp_path / "kestrel-handbook.txt"
    handbook.write_text(FACT)
    page.goto(f"{url}/upload/")
    page.select_option("#upload-collection", str(collection_a.pk))
    page.set_input_files("#upload-files", str(handbook))
    page.click("#upload-form button[type=submit]")
    row = page.locator("#upload-table tbody tr").first
    row.locator(".status-ready").wait_for()
    assert Document.objects.get().status == Document.Status.READY
    page.screenshot(path=str(shots / "upload.png"))
    page.goto(f"{url}/documents/")
    assert page.locator("#documents-table .status-ready").count() == 1

    # Ask; the sources are listed before the answer streams in, then the citations replace them, then the
    # 👍/👎 buttons. The pending list lives only until the citations arrive: a mutation observer notes it.
    page.add_init_script(
        """window.pendingSources = [];
        new MutationObserver(() => {
          for (const item of document.querySelectorAll(".sources li.pending")) {
            const answer = item.closest(".turn").querySelector(".answer").textContent;
            window.pendingSources.push([item.textContent, answer]);
          }
        }).observe(document, { childList: true, subtree: true });"""
    )
    page.goto(f"{url}/")
    page.fill("#question", "What is the launch code of the Kestrel project?")
    page.click("#ask-button")
    turn = page.locator("#turns .turn").last
    turn.locator(".feedback .rate, [role=alert]").first.wait_for()
    assert turn.locator("[role=alert]").count() == 0, turn.locator("[role=alert]").first.inner_text()
    answer_text = turn.locator(".answer").inner_text()
    assert "BLUEFIN-4471" in answer_text
    pending = page.evaluate("window.pendingSources")
    assert pending and "kestrel handbook" in pending[0][0].lower()
    assert pending[0][1] == "Sources found. The answer is being written…"  # before the first token
    assert turn.locator(".sources li.pending").count() == 0
    page.wait_for_url(f"{url}/c/*/")
    answer = Answer.objects.get()
    assert answer.text in answer_text.replace("\n", " ") or "BLUEFIN-4471" in answer.text
    assert page.locator("#conversation-list a").first.inner_text().startswith("What is the launch code")
    page.screenshot(path=str(shots / "answer.png"))

    # A citation opens the cited passage with its document.
    source = turn.locator(".sources .source-link").first
    assert "kestrel handbook" in source.inner_text().lower()
    source.click()
    dialog = page.locator("#citation-dialog")
    dialog.wait_for(state="visible")
    assert "BLUEFIN-4471" in dialog.locator("#citation-text").inner_text()
    link = dialog.locator("#citation-link")
    assert link.get_attribute("href").startswith(f"/documents/{Document.objects.get().pk}/#chunk-")
    page.screenshot(path=str(shots / "citation.png"))
    dialog.locator("#citation-close").click()
    dialog.wait_for(state="hidden")

    # 👍 is stored and shown as chosen.
    turn.locator(".rate[data-rating=up]").click()
    page.locator(".rate[data-rating=up][aria-pressed=true]").wait_for()
    assert AnswerFeedback.objects.get().rating == "up"

    # The conversation page, reloaded, shows the stored answer with working citations.
    page.reload()
    assert "BLUEFIN-4471" in page.locator("#turns .turn .answer").first.inner_text()
    assert page.locator(".rate[data-rating=up][aria-pressed=true]").count() == 1

    # Switch to Turkish.
    page.select_option("#language", "tr")
    page.wait_for_load_state()
    page.locator("html[lang=tr]").wait_for()
    assert page.locator(".mainnav").inner_text().split() == ["Sor", "Belgeler", "Yükle", "API"]
    assert page.locator("#ask-button").inner_text() == "Sor"
    assert page.locator(".sources-title").first.inner_text() == "Kaynaklar"
    page.screenshot(path=str(shots / "turkish.png"))

    # A phone-sized screen: nothing wider than the viewport, the ask box reachable.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    assert page.locator("#question").is_visible()
    page.screenshot(path=str(shots / "phone.png"), full_page=True)


def test_model_down_shows_a_readable_message(
    browser_page: Any, live_server: Any, settings: Any, alice: Any, collection_a: Collection
) -> None:
    from tests.rag.helpers import ingest_bytes

    ingest_bytes(collection_a, alice, FACT.encode(), "kestrel.txt")
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
    settings.LLM_MAX_RETRIES = 0
    page = browser_page
    page.context.add_cookies(_session_cookie(live_server.url, alice))
    page.goto(f"{live_server.url}/")
    page.fill("#question", "What is the launch code of the Kestrel project?")
    page.click("#ask-button")
    alert = page.locator("#turns .turn [role=alert]")
    alert.wait_for()
    assert alert.inner_text().startswith("The language model is not reachable")


def test_delete_a_document_from_its_page(
    browser_page: Any, live_server: Any, alice: Any, collection_a: Collection
) -> None:
    from governance.models import AuditEvent
    from rag.models import Chunk, Citation, Conversation
    from tests.rag.helpers import ingest_bytes

    document = ingest_bytes(collection_a, alice, FACT.encode(), "kestrel.txt")
    chunk = Chunk.objects.filter(document=document).first()
    answer = Answer.objects.create(
        conversation=Conversation.objects.create(user=alice, title="Kestrel"), question="Code?", text="[1]"
    )
    Citation.objects.create(answer=answer, n=1, chunk=chunk, document=document, title="t", snippet=chunk.text)
    page = browser_page
    page.context.add_cookies(_session_cookie(live_server.url, alice))
    page.goto(f"{live_server.url}/documents/{document.pk}/")
    page.on("dialog", lambda dialog: dialog.accept())  # the "Delete this document …?" confirmation
    page.click("#delete-document button[type=submit]")
    page.wait_for_url(f"{live_server.url}/documents/")
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not Chunk.objects.filter(document_id=document.pk).exists()
    citation = Citation.objects.get(answer=answer)
    assert (citation.snippet, citation.chunk_id, citation.document_id) == ("", None, None)
    event = AuditEvent.objects.filter(action="document.delete").get()
    assert (event.actor_user_id, event.target_id) == (alice.pk, str(document.pk))


def _session_cookie(url: str, user: Any) -> list[dict[str, Any]]:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": url}]


def test_chromium_is_debians(browser_page: Any) -> None:
    assert shutil.which("chromium") == CHROMIUM


def test_redaction_preview_on_the_privacy_page(
    browser_page: Any, live_server: Any, alice: Any, collection_a: Collection
) -> None:
    page = browser_page
    alice.set_password("portal-pass-1")
    alice.save()
    page.goto(f"{live_server.url}/login/?next=/collections/{collection_a.pk}/privacy/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "portal-pass-1")
    page.click("button[type=submit]")
    page.wait_for_selector("#pii-preview")
    page.fill("#pii-text", "Sayın Ahmet Yılmaz, T.C. KİMLİK NO 10000000146, e-posta ahmet@firma.com.tr")
    page.click("#pii-preview button[type=submit]")
    page.wait_for_selector("#pii-output:not([hidden])")
    output = page.inner_text("#pii-output")
    assert output == "Sayın <PERSON_1>, T.C. KİMLİK NO <TCKN_1>, e-posta <EMAIL_1>"
    assert "TCKN" in page.inner_text("#pii-entities") and "mask" in page.inner_text("#pii-entities")


def test_compliance_officer_filters_drills_down_and_verifies(
    browser_page: Any, live_server: Any, alice: Any, carol: Any, collection_a: Collection, settings: Any
) -> None:
    from django.contrib.auth.models import Group

    from governance.roles import COMPLIANCE_GROUP
    from rag.services import answers

    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"  # a not-found answer needs no model
    prepared = answers.answer_prepare(user=alice, question="Who keeps the lighthouse logbook?")
    answers.answer_complete(prepared=prepared)
    carol.groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    carol.set_password("officer-pass-1")
    carol.save()
    page = browser_page
    page.goto(f"{live_server.url}/login/?next=/compliance/")
    page.fill("#id_username", "carol")
    page.fill("#id_password", "officer-pass-1")
    page.click("button[type=submit]")
    page.wait_for_selector("#audit-table")
    assert page.locator("nav.mainnav a", has_text="Compliance").count() == 1
    assert page.locator("nav.subnav a", has_text="Audit log").count() == 1
    page.fill("input[name=action]", "ask")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("#audit-table tbody tr[data-seq]")
    assert page.locator("#audit-table tbody tr[data-seq]").count() == 1
    page.click("#audit-table tbody tr[data-seq] a")
    page.wait_for_selector("#drilldown")
    assert "Who keeps the lighthouse logbook?" in page.inner_text("#drilldown")
    page.goto(f"{live_server.url}/compliance/")
    page.click("#verify-form button[type=submit]")
    page.wait_for_selector("#verify-result")
    assert "Intact" in page.inner_text("#verify-result")


def test_two_officers_erase_a_subject_from_the_compliance_pages(
    browser_page: Any,
    live_server: Any,
    celery_worker: WorkerProcess,
    alice: Any,
    carol: Any,
    django_user_model: Any,
    collection_a: Collection,
) -> None:
    from django.contrib.auth.models import Group

    from governance.compliance.subjects import OPEN, identifiers_clean, subject_find
    from governance.models import SubjectRequest
    from governance.roles import COMPLIANCE_GROUP
    from rag.models import Chunk
    from tests.rag.helpers import ingest_bytes

    text = (
        "Kira sözleşmesi\n\nKiracı Hakan Öztürk, e-posta hakan.ozturk@example.com, depozitoyu ödedi.\n\n"
        + ("Madde: ortak giderler aylık olarak paylaştırılır.\n\n" * 10)
    )
    ingest_bytes(collection_a, alice, text.encode(), "kira.txt")
    identifiers = {"email": "hakan.ozturk@example.com", "name": "Hakan Öztürk"}
    found = subject_find(identifiers_clean(identifiers)).chunks
    assert found
    group = Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0]
    dave = django_user_model.objects.create_user(username="dave", password="officer-pass-2")
    carol.set_password("officer-pass-1")
    carol.save()
    for officer in (carol, dave):
        officer.groups.add(group)
    page = browser_page

    def log_in(username: str, password: str, path: str) -> None:
        page.context.clear_cookies()
        page.goto(f"{live_server.url}/login/?next={path}")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")

    log_in("carol", "officer-pass-1", "/compliance/requests/")
    page.wait_for_selector("#request-form")
    page.check("input[name=kind][value=erasure]")
    page.fill("#id-email", identifiers["email"])
    page.fill("#id-name", identifiers["name"])
    page.click("#request-form button[type=submit]")
    page.wait_for_selector("#request-status")
    assert "awaiting_approval" in page.inner_text("#request-status")
    assert page.locator("#approve").count() == 0  # not by the officer who opened it
    request_path = page.url.removeprefix(live_server.url)

    log_in("dave", "officer-pass-2", request_path)
    page.wait_for_selector("#approve")
    page.click("#approve")
    wait_for(
        lambda: SubjectRequest.objects.exclude(status__in=OPEN).first(),
        what="the worker to finish the erasure",
        state=lambda: list(SubjectRequest.objects.values_list("status", "error")),
    )
    page.reload()
    assert "completed" in page.inner_text("#request-status")
    assert "chunks: " in page.inner_text("#receipt-counts")
    assert not Chunk.objects.filter(pk__in=found).exists()
