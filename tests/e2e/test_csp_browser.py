"""The Content-Security-Policy in a real browser: Chromium reports no violation on the portal, the compliance
pages, the admin and the Swagger UI, and the controls that used inline handlers (language, collection filter)
still work."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group

from governance.roles import COMPLIANCE_GROUP
from rag.models import Collection
from tests.e2e.test_portal_browser import browser_page  # noqa: F401 - the fixture
from tests.rag.helpers import ingest_bytes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Chromium reports every refusal to the console ("Refused to execute inline script because it violates the
# following Content Security Policy directive …") and fires a securitypolicyviolation event.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def test_no_content_security_policy_violation_on_the_main_pages(
    browser_page: Any,  # noqa: F811 - the fixture imported above
    live_server: Any,
    alice: Any,
    collection_a: Collection,
) -> None:
    document = ingest_bytes(collection_a, alice, b"The boiler is serviced every spring.", "boiler.txt")
    alice.groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    alice.is_staff = alice.is_superuser = True
    alice.set_password("csp-pass-1")
    alice.save()
    page = browser_page
    url = live_server.url
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.add_init_script(RECORD_VIOLATIONS)

    def violations() -> list[str]:
        reported = [line for line in console if "Content Security Policy" in line or "pageerror" in line]
        return reported + list(page.evaluate("window.__cspViolations || []"))

    # The listeners work: a page of ours with inline script and style under the same policy is refused.
    header = page.request.get(f"{url}/login/").headers["content-security-policy"]
    page.route(
        f"{url}/csp-probe/",
        lambda route: route.fulfill(
            status=200,
            headers={"Content-Type": "text/html", "Content-Security-Policy": header},
            body="<p style='color:red'>probe</p><script>document.title = 'ran'</script>",
        ),
    )
    page.goto(f"{url}/csp-probe/")
    page.wait_for_function("window.__cspViolations.length >= 2")
    assert page.title() != "ran"
    assert any("Content Security Policy" in line for line in console), console
    console.clear()

    page.goto(f"{url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "csp-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")
    seen: dict[str, list[str]] = {"/login/ → /": violations()}

    for path, ready in [
        ("/", "#question"),
        (f"/documents/{document.pk}/", "main h1"),
        ("/upload/", "#upload-form"),
        (f"/collections/{collection_a.pk}/privacy/", "main h1"),
        (f"/collections/{collection_a.pk}/processing/", "main h1"),
        ("/compliance/", "#audit-table"),
        ("/compliance/requests/", "main h1"),
        ("/compliance/inventory/", "main h1"),
        ("/compliance/retention/", "main h1"),
        ("/admin/", "#content"),
        ("/admin/rag/document/", "#changelist"),
        ("/no-such-page/", "main h1"),
        ("/api/docs/", ".swagger-ui .information-container"),
    ]:
        console.clear()
        page.goto(f"{url}{path}")
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
        seen[path] = violations()

    # The collection filter and the language menu submit on change, from portal.js (no inline handler).
    console.clear()
    page.goto(f"{url}/documents/")
    page.select_option("#collection-filter", str(collection_a.pk))
    page.wait_for_url(f"{url}/documents/?collection={collection_a.pk}")
    page.select_option("#language", "tr")
    page.locator("html[lang=tr]").wait_for()
    seen["/documents/ filter, language"] = violations()

    assert {path: found for path, found in seen.items() if found} == {}
