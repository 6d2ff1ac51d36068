"""The presidio AnalyzerEngine: built once per process, for Turkish and English, entirely offline.

presidio (and, through it, spaCy and transformers) is imported on the first call, not when this module is
imported: the web process's URLconf must stay light (see tests/test_project.py).

- NLP engine: ``NoOpNlpEngine`` — our recognizers need no tokens. With ``PII_NER_MODEL`` set (a spaCy
  pipeline the operator installed: a package name or a directory; transformer-backed pipelines included),
  a ``SpacyNlpEngine`` runs it and presidio's ``SpacyRecognizer`` adds its PERSON entities.
- Context: presidio's LemmaContextAwareEnhancer lower-cases with ``str.lower()`` and needs lemmas; ours folds
  Turkish capitals (``text.fold``) and looks at the words around the finding in the raw text.
- tldextract is pinned to its bundled suffix list (``suffix_list_urls=()``): presidio's e-mail and URL
  recognizers would otherwise try to download it at first use and log a traceback per process.
"""

from __future__ import annotations

import bisect
import re
import threading
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from django.conf import settings

from governance.pii.text import fold

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine

LANGUAGES = ("tr", "en")
# Findings at or above this score are redacted. Checksum-valid identifiers score 0.8–0.9 on their own; weak
# ones (bare 10-digit numbers, dates) reach it only with a context word.
REDACT_THRESHOLD = 0.5
CONTEXT_BOOST = 0.35
CONTEXT_WORDS_BEFORE = 6
CONTEXT_WORDS_AFTER = 2

_TOKEN = re.compile(r"[\w.'’+-]+")
_build_lock = threading.Lock()


@dataclass(frozen=True)
class Finding:
    entity_type: str
    start: int
    end: int
    score: float
    method: str = ""  # which rule found it (pattern name, or title/gazetteer/capitalised/ner for PERSON)


def language_for(language: str | None) -> str:
    """Turkish and English have their own registries; any other language gets the English one (the
    identifier recognizers are the same, names are looked up in both gazetteers)."""
    return language if language in LANGUAGES else "en"


# Characters that hide an identifier from the patterns without changing what it is: Unicode spaces (no-break,
# thin, ideographic, zero-width) read as a space, full-width digits and signs as ASCII. One character for one,
# so offsets in the shadow text are offsets in the original.
_SHADOW = str.maketrans(
    {
        **dict.fromkeys(
            map(ord, "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"), " "
        ),
        **dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u202f\u205f\u3000\t"), " "),
        **{0xFF10 + i: str(i) for i in range(10)},
        ord("\uff20"): "@",
        ord("\uff0b"): "+",
        ord("\uff0d"): "-",
        ord("\u2010"): "-",
        ord("\u2011"): "-",
        ord("\u2012"): "-",
        ord("\u2013"): "-",
        ord("\uff0e"): ".",
    }
)
# A number wrapped onto the next line by a PDF's layout ("TR33 0006 1005 1978\n6457 8413 26").
_WRAPPED_NUMBER = re.compile(r"(?<=\d)\r?\n(?=\d)")


def shadow(text: str) -> str:
    """What the recognizers read: ``text`` with look-alike characters made plain, same length."""
    return _WRAPPED_NUMBER.sub(lambda m: " " * len(m.group(0)), text.translate(_SHADOW))


def analyze(text: str, *, language: str | None = None, threshold: float = REDACT_THRESHOLD) -> list[Finding]:
    """Personal data in ``text``: non-overlapping findings at or above ``threshold``, in text order."""
    if not text.strip():
        return []
    results = engine().analyze(text=shadow(text), language=language_for(language), score_threshold=threshold)
    findings = [
        Finding(
            entity_type=r.entity_type,
            start=r.start,
            end=r.end,
            score=round(float(r.score), 2),
            method=str(
                (r.recognition_metadata or {}).get("method")
                or (r.recognition_metadata or {}).get("pattern")
                or ("ner" if r.entity_type == "PERSON" else "")
            ),
        )
        for r in results
    ]
    return _without_overlaps(findings)


def _without_overlaps(findings: list[Finding]) -> list[Finding]:
    """Where two findings overlap the stronger (then the longer) wins; the result is in text order."""
    starts: list[int] = []  # kept findings, sorted by start; they never overlap each other
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (-f.score, -(f.end - f.start), f.start)):
        index = bisect.bisect_left(starts, finding.start)
        if index > 0 and kept[index - 1].end > finding.start:
            continue
        if index < len(kept) and kept[index].start < finding.end:
            continue
        starts.insert(index, finding.start)
        kept.insert(index, finding)
    return kept


_build_state = threading.local()


def building() -> bool:
    """Whether this thread is building the analyzer right now (see logfilter)."""
    return getattr(_build_state, "active", False)


def engine() -> AnalyzerEngine:
    # Built under a lock: a threaded web server would otherwise build it once per thread on a cold start.
    with _build_lock:
        _build_state.active = True
        try:
            return _engine(settings.PII_NER_MODEL)
        finally:
            _build_state.active = False


@cache
def _engine(ner_model: str) -> AnalyzerEngine:
    import tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngine, NoOpNlpEngine, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    from governance.pii import recognizers
    from governance.pii.person import PersonRecognizer

    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    registry = RecognizerRegistry(supported_languages=list(LANGUAGES))
    nlp_engine: NlpEngine
    models = [{"lang_code": lang, "model_name": ner_model or "none"} for lang in LANGUAGES]
    if ner_model:
        nlp_engine = SpacyNlpEngine(models=models)
    else:
        nlp_engine = NoOpNlpEngine(models=models)
    for lang in LANGUAGES:
        for recognizer in recognizers.build(lang):
            registry.add_recognizer(recognizer)
        registry.add_recognizer(PersonRecognizer(language=lang))
        if ner_model:
            registry.add_recognizer(SpacyRecognizer(supported_language=lang, supported_entities=["PERSON"]))
    nlp_engine.load()
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=list(LANGUAGES),
        default_score_threshold=REDACT_THRESHOLD,
        context_aware_enhancer=_folded_context_enhancer(),
    )


def _folded_context_enhancer() -> Any:
    from presidio_analyzer import EntityRecognizer, RecognizerResult
    from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
    from presidio_analyzer.nlp_engine import NlpArtifacts

    class FoldedContextEnhancer(ContextAwareEnhancer):
        """Raises a finding's score when one of its recognizer's context words stands within a few words
        before (or right after) it. Words are compared folded; words of three letters or more match as
        prefixes (Turkish suffixes: ``vergi`` matches ``vergisi``), shorter ones (``tc``, ``ip``) exactly."""

        def __init__(self) -> None:
            super().__init__(
                context_similarity_factor=CONTEXT_BOOST,
                min_score_with_context_similarity=REDACT_THRESHOLD,
                context_prefix_count=CONTEXT_WORDS_BEFORE,
                context_suffix_count=CONTEXT_WORDS_AFTER,
            )

        def enhance_using_context(
            self,
            text: str,
            raw_results: list[RecognizerResult],
            nlp_artifacts: NlpArtifacts,
            recognizers: list[EntityRecognizer],
            context: list[str] | None = None,
        ) -> list[RecognizerResult]:
            by_id = {recognizer.id: recognizer for recognizer in recognizers}
            extra = tuple(fold(word) for word in context or ())
            for result in raw_results:
                metadata = result.recognition_metadata or {}
                if metadata.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY):
                    continue
                recognizer = by_id.get(metadata.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY))
                words = _folded(tuple(recognizer.context or ()) if recognizer else ()) + extra
                if words and _context_near(text, result.start, result.end, words):
                    result.score = min(
                        1.0,
                        max(
                            result.score + self.context_similarity_factor,
                            self.min_score_with_context_similarity,
                        ),
                    )
                    metadata[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
                    result.recognition_metadata = metadata
            return raw_results

    return FoldedContextEnhancer()


@cache
def _folded(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(fold(word) for word in words)


def _context_near(text: str, start: int, end: int, words: tuple[str, ...]) -> bool:
    before = _TOKEN.findall(fold(text[max(0, start - 120) : start]))[-CONTEXT_WORDS_BEFORE:]
    after = _TOKEN.findall(fold(text[end : end + 60]))[:CONTEXT_WORDS_AFTER]
    tokens = [token.strip(".'’+-") or token for token in before + after]
    joined = " ".join(before + after)
    for word in words:
        if " " in word:
            if word in joined:
                return True
        elif len(word) < 3:
            if any(token == word or token == word + "." for token in tokens):
                return True
        elif any(token.startswith(word) for token in tokens):
            return True
    return False
