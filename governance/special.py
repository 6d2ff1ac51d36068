"""Special categories of personal data (KVKK Art. 6, GDPR Art. 9): finding them in a chunk.

KVKK lists race and ethnic origin, political opinion, philosophical belief, religion, sect or other beliefs,
appearance and dress, membership of associations, foundations or trade unions, health, sexual life, criminal
convictions and security measures, and biometric and genetic data. A chunk that names one of them in Turkish
or English is flagged with the category (``Chunk.special_categories``) and from then on reaches only readers
holding a ``special`` grant on its collection (rag.selectors); an uploader can also declare a whole document.

This is a word list, not a classifier: it errs towards flagging (a flagged chunk is hidden from readers
without the grant, an unflagged one is not), and terms are chosen to be specific — "diagnosis", "adli sicil" —
rather than words any business text uses ("health insurance policy" is not flagged: no term matches).
Terms are matched on folded text (Turkish case, diacritics) at the start of a word, so suffixes count:
"teşhisi", "sendikaya", "DİYABET".
"""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _

from governance.pii.text import fold

CATEGORIES = {
    "health": _("health"),
    "sexual_life": _("sexual life"),
    "religion": _("religion or belief"),
    "political": _("political opinion"),
    "ethnicity": _("race or ethnic origin"),
    "union": _("union or association membership"),
    "criminal": _("criminal convictions and security measures"),
    "biometric": _("biometric or genetic data"),
    "declared": _("declared by the uploader"),
}

# Folded word beginnings (Turkish and English). Each must be specific enough that ordinary business text
# does not use it; "\w*" after the stem lets Turkish suffixes and English inflections match.
_TERMS: dict[str, tuple[str, ...]] = {
    "health": (
        "teshis", "tani kon", "tanisi kon", "hastalig", "kanser", "diyabet", "seker hastas", "depresyon",
        "psikiyatri", "anksiyete bozuk", "hiv", "aids", "hepatit", "ameliyat", "kemoterapi", "recete",
        "ilac tedavi", "saglik rapor", "engellilik oran", "hamile", "gebelik", "kan grubu", "epilepsi",
        "alzheimer", "demans", "tedavi gor", "yogun bakim", "psikolojik tedavi",
        "diagnos", "cancer", "diabet", "depressi", "psychiatr", "chemotherap", "surgery", "prescription",
        "medical record", "medical history", "pregnan", "blood type", "disabilit", "epilep", "hepatitis",
        "mental illness", "mental health condition", "treated for", "sick leave",
    ),
    "sexual_life": (
        "cinsel yonelim", "cinsel hayat", "cinsel tercih", "escinsel", "biseksuel", "lgbt", "trans birey",
        "sexual orientation", "sex life", "homosexual", "bisexual", "transgender", "gay ", "lesbian",
    ),
    "religion": (
        "dini inanc", "din:", "dini:", "mezheb", "mezhep", "musluman", "hristiyan", "hiristiyan", "yahudi",
        "ateist", "alevi", "sunni", "cemaat uyes", "tarikat",
        "religio", "muslim", "christian", "jewish", "atheist", "catholic", "protestant", "buddhist",
        "hindu", "church member",
    ),
    "political": (
        "siyasi gorus", "parti uyes", "partisi uyes", "siyasi parti uyel", "political opinion",
        "political affiliation", "party member", "voted for",
    ),
    "ethnicity": (
        "etnik koken", "irki", "irk:", "ethnic origin", "ethnicity", "racial origin", "race:",
    ),
    "union": (
        "sendika", "sendikal", "dernek uyel", "vakif uyel", "trade union", "union member", "labour union",
        "labor union",
    ),
    "criminal": (
        "adli sicil", "sabika", "mahkumiyet", "hapis ceza", "ceza mahkum", "hukumlu", "guvenlik tedbir",
        "criminal record", "conviction", "convicted", "prison sentence", "sentenced to", "criminal offen",
    ),
    "biometric": (
        "parmak iz", "biyometri", "genetik", "dna ", "dna'", "retina", "iris tarama", "yuz tanima",
        "fingerprint", "biometric", "genetic", "dna", "facial recognition", "iris scan", "retina scan",
    ),
}  # fmt: skip

_PATTERNS = {
    category: re.compile(r"(?<!\w)(?:" + "|".join(re.escape(term) for term in terms) + r")")
    for category, terms in _TERMS.items()
}


def special_categories_in(text: str) -> list[str]:
    """The special categories a text mentions, in CATEGORIES order (empty: none found)."""
    folded = fold(text)
    return [category for category, pattern in _PATTERNS.items() if pattern.search(folded)]
