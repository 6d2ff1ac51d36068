"""Every string of the portal has a Turkish translation, and the compiled catalogue matches the source."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import polib
import pytest
from django.conf import settings
from django.core.management import call_command

LOCALE = Path(settings.BASE_DIR) / "locale"


def test_turkish_catalogue_is_complete_for_every_string_in_the_code(tmp_path: Path, settings: Any) -> None:
    if not shutil.which("msgmerge"):
        pytest.fail("GNU gettext is missing: apt-get install gettext (scripts/test.sh does)")
    # Extract the strings afresh into a copy of the catalogue; anything new or changed shows up untranslated.
    shutil.copytree(LOCALE, tmp_path / "locale")
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    call_command(
        "makemessages",
        locale=["tr"],
        no_location=True,
        ignore_patterns=[".venv*", ".data", "staticfiles", "tests", "bench", "locale"],
        verbosity=0,
    )
    fresh = polib.pofile(str(tmp_path / "locale" / "tr" / "LC_MESSAGES" / "django.po"))
    live = [entry for entry in fresh if not entry.obsolete]
    assert len(live) > 50
    untranslated = [e.msgid for e in live if not e.translated() or "fuzzy" in e.flags]
    assert untranslated == [], "translate these in locale/tr/LC_MESSAGES/django.po, then compilemessages"


def test_compiled_catalogue_matches_the_source() -> None:
    source = polib.pofile(str(LOCALE / "tr" / "LC_MESSAGES" / "django.po"))
    compiled = {(e.msgid, e.msgstr) for e in polib.mofile(str(LOCALE / "tr" / "LC_MESSAGES" / "django.mo"))}
    for entry in source.translated_entries():
        if not entry.msgid_plural:
            assert (entry.msgid, entry.msgstr) in compiled, f"run compilemessages: {entry.msgid!r}"
