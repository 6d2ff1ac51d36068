"""Document language: detected from the text unless the uploader gives it; decides full-text stemming."""

from __future__ import annotations

import threading

# ISO 639-1 → a text-search configuration that PostgreSQL ships. Anything else uses 'simple'
# (lower-casing, no stemming), which still matches exact words.
SEARCH_CONFIGS: dict[str, str] = {
    "ar": "arabic",
    "ca": "catalan",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "eu": "basque",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hi": "hindi",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "nl": "dutch",
    "no": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}
# Query-side configurations: a question is stemmed the ways the collections' documents may be.
QUERY_CONFIGS = ("simple", "english", "turkish")

_lock = threading.Lock()
_seeded = False


def search_config_for(language: str) -> str:
    return SEARCH_CONFIGS.get(language.lower(), "simple")


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language, or '' when unsure (short or mixed text)."""
    global _seeded
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    sample = text[:5000]
    if len(sample.strip()) < 20:
        return ""
    with _lock:
        if not _seeded:
            DetectorFactory.seed = 0  # langdetect is randomised; the same text must give the same answer
            _seeded = True
        try:
            candidates = detect_langs(sample)
        except LangDetectException:
            return ""
    best = candidates[0]
    return best.lang.split("-")[0] if best.prob >= 0.7 else ""


def normalise_language(value: str) -> str:
    """Accept 'en', 'EN', 'english', 'tr', 'turkish'... → ISO 639-1, or raise ValueError."""
    lowered = value.strip().lower()
    if lowered in SEARCH_CONFIGS:
        return lowered
    for code, config in SEARCH_CONFIGS.items():
        if config == lowered:
            return code
    if len(lowered) == 2 and lowered.isalpha():
        return lowered
    raise ValueError(f"unknown language {value!r}; use an ISO 639-1 code such as 'en' or 'tr'")
