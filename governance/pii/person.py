"""PERSON names without a downloadable NER model: titles, a gazetteer and capitalisation.

No trustworthy offline NER model exists for this machine (see docs), so names are found by three rules, each
recorded as the finding's ``method`` so the evaluation can say what each one catches:
- ``title``: capitalised words after a title or honorific (Sayın, Sn., Bay, Bayan, Dr., Av., Prof., Mr., Ms.)
  or before ``Bey``/``Hanım``: "Sayın Ahmet Yılmaz", "Kemal Bey", "Dr. Jane Doe";
- ``gazetteer``: a known given name followed by a known surname ("Ayşe Kaya", "JOHN SMITH");
- ``capitalised``: a known given name followed by other capitalised words ("Elif Karakoçlu"), or a capitalised
  word before a known surname ("Zerrin Yılmaz"), scored lower;
a single known given name is only reported next to a context word ("adı", "name", "hasta").
The gazetteers (governance/pii/data) hold common Turkish and English names; an operator may add a spaCy
pipeline (``PII_NER_MODEL``) whose PERSON entities are merged with these.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from governance.pii.text import fold

DATA = Path(__file__).parent / "data"

TITLES = {
    "sayin", "sn", "bay", "bayan", "dr", "av", "prof", "doc", "uzm", "op", "ogr", "muh", "mr", "mrs", "ms",
    "miss", "mx", "sir", "dame", "madam", "mister", "dear",
}  # fmt: skip
POST_TITLES = {"bey", "hanim", "beyefendi", "hanimefendi", "efendi"}
# Words that make a capitalised run an institution or a place, not a person: "Umut Vakfı", "Deniz Feneri",
# "Ahmet Yesevi Üniversitesi", "Elif Sokak", "Grace Hospital". Matched folded, by prefix.
INSTITUTION_PREFIXES = (
    "vakf", "vakif", "fener", "bankas", "holding", "hastane", "universite", "dernek", "cadde", "sokak", "sokag",
    "mahalle", "bulvar", "apartman", "sitesi", "ilcesi", "parki", "camii", "okulu", "lisesi", "sirket", "koleji",
    "marketi", "oteli", "eczane", "gida", "insaat", "ticaret", "sanayi",
)  # fmt: skip
INSTITUTION_WORDS = {
    "ltd", "a.s", "inc", "corp", "llc", "plc", "street", "road", "avenue", "lane", "university", "college",
    "hospital", "bank", "foundation", "company", "group", "school", "church", "hotel", "park", "center",
    "centre", "institute", "museum", "airport", "station",
}  # fmt: skip
CONTEXT = [
    "ad", "adi", "adsoyad", "soyad", "soyadi", "isim", "ismi", "hasta", "musteri", "calisan", "personel",
    "kullanici", "yakini", "temsilci", "sahibi", "basvuran", "imza",
    "name", "full name", "surname", "patient", "customer", "employee", "applicant", "user", "next of kin",
    "manager", "signed",
]  # fmt: skip
MONTH_NAMES = {
    "ocak", "subat", "mart", "nisan", "mayis", "haziran", "temmuz", "agustos", "eylul", "ekim", "kasim",
    "aralik", "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
}  # fmt: skip

# A capitalised word (Turkish letters included), optionally followed by an apostrophe suffix (Yılmaz'ın).
_WORD = re.compile(r"(?<![\w])([A-ZÇĞİÖŞÜÂÎÛ][^\W\d_]*)(?:['’][^\W\d_]+)?(?![\w])")
_GAP = re.compile(r"[ \t]{1,3}|[ \t]*-[ \t]*")  # words of one name sit on one line
_TITLE_TAIL = re.compile(r"\.?[ \t]{1,3}$")
# Turkish puts the label after the name: "Teknaz Ülker adlı müşteri", "… kullanıcısının hesabı".
_LABEL_AFTER = re.compile(r"['’]?\w*[ \t]+(?:adli|isimli|adindaki|kullanici|musteri|hasta|personel)")
_LABEL_BEFORE = re.compile(
    r"(?:^|[^\w])(?:adi soyadi|ad soyad|adi|isim|ismi|hasta|musteri|calisan|kullanici|basvuran|yakini|"
    r"name|full name|patient|customer|employee|applicant|user|next of kin)[ \t]{0,3}[:=-]?[ \t]{0,3}$"
)


@cache
def gazetteer(kind: str) -> frozenset[str]:
    names: set[str] = set()
    for path in sorted(DATA.glob(f"{kind}_*.txt")):
        names.update(
            fold(line.strip()) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
        )
    return frozenset(names)


class PersonRecognizer(EntityRecognizer):
    def __init__(self, *, language: str) -> None:
        super().__init__(
            supported_entities=["PERSON"],
            name="PersonRecognizer",
            supported_language=language,
            context=CONTEXT,
        )

    def load(self) -> None:
        self.given = gazetteer("given")
        self.surnames = gazetteer("surname")

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        for run in self._runs(text):
            found = self._judge(text, run)
            if found is not None:
                start, end, score, method = found
                results.append(
                    RecognizerResult(
                        entity_type="PERSON",
                        start=start,
                        end=end,
                        score=score,
                        recognition_metadata={
                            RecognizerResult.RECOGNIZER_NAME_KEY: "PersonRecognizer",
                            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                            "method": method,
                        },
                    )
                )
        return results

    @staticmethod
    def _runs(text: str) -> list[list[tuple[int, int, str]]]:
        """Capitalised words that follow each other on one line: [(start, end, folded word), ...]."""
        runs: list[list[tuple[int, int, str]]] = []
        previous_end = -1
        for match in _WORD.finditer(text):
            word = (match.start(1), match.end(1), fold(match.group(1)))
            gap = text[previous_end : match.start()] if previous_end >= 0 else None
            if runs and gap is not None and _GAP.fullmatch(gap):
                runs[-1].append(word)
            else:
                runs.append([word])
            # An apostrophe suffix ends the name: "Ahmet'in Kaya ile" is not one name.
            previous_end = match.end(1) if match.end() == match.end(1) else -1
        return runs

    def _judge(self, text: str, run: list[tuple[int, int, str]]) -> tuple[int, int, float, str] | None:
        words = [w for w in run if len(w[2]) > 1 or w[2].isalpha()]
        if not words:
            return None
        # A title inside the run (Sayın, Mr) or right before it (Dr., Av.) starts the name after it.
        for index, (_, _, word) in enumerate(words):
            if word in TITLES and index + 1 < len(words):
                name = self._not_titles(words[index + 1 : index + 4])
                if name:
                    return name[0][0], name[-1][1], 0.85, "title"
        if self._title_before(text, words[0][0]) and (name := self._not_titles(words[:3])):
            return name[0][0], name[-1][1], 0.85, "title"
        # "Kemal Bey", "Ayşe Nur Hanım": the honorific follows the name (the word before the first name only
        # when it is a known given name: "Yarın Kemal Bey" names Kemal).
        for index, (_, _, word) in enumerate(words):
            if word in POST_TITLES and index > 0:
                first = index - 2 if index >= 2 and words[index - 2][2] in self.given else index - 1
                return words[first][0], words[index - 1][1], 0.85, "title"
        if any(
            word.startswith(INSTITUTION_PREFIXES) or word in INSTITUTION_WORDS for _, _, word in words[1:]
        ):
            return None
        # "May 17, 2001", "12 Mart": a month name before a number is a date, not a name.
        if words[-1][2] in MONTH_NAMES and re.match(r"\s*\d", text[words[-1][1] : words[-1][1] + 4]):
            words = words[:-1]
            if not words:
                return None

        def shouting(word: tuple[int, int, str]) -> bool:
            return text[word[0] : word[1]].isupper()

        # Gazetteer: start at the first known given name; a word before a known surname also counts.
        for index, (_, _, word) in enumerate(words):
            if word not in self.given:
                continue
            tail = words[index : index + 4]
            last = max(
                (i for i, w in enumerate(tail) if w[2] in self.surnames or w[2] in self.given), default=0
            )
            if last > 0 and tail[last][2] in self.surnames:
                name = tail[: last + 1]
                return name[0][0], name[-1][1], 0.85, "gazetteer"
            if len(tail) > 1 and not shouting(tail[1]):
                # A known given name and a capitalised word after it: likely a surname. In upper-case text
                # ("GRANT EXECUTE") that says nothing; only a label can (below).
                name = tail[: max(last, 1) + 1]
                return name[0][0], name[-1][1], 0.6, "capitalised"
            if len(tail) > 1:
                break
            if shouting(tail[0]):  # "GRANT": an upper-case word is not a name on its own
                return None
            return tail[0][0], tail[0][1], 0.3, "gazetteer"  # a lone given name: only with context
        for index, (_, _, word) in enumerate(words):
            if index > 0 and word in self.surnames and not shouting(words[index - 1]):
                return words[index - 1][0], words[index][1], 0.55, "capitalised"
        # Two or three capitalised words right after a label on the same line: "Adı Soyadı: Teknaz Ülker",
        # "Hasta: …", "user Karen Stephenson".
        if 2 <= len(words) <= 3 and (
            _LABEL_BEFORE.search(fold(text[max(0, words[0][0] - 30) : words[0][0]]))
            or _LABEL_AFTER.match(fold(text[words[-1][1] : words[-1][1] + 30]))
        ):
            return words[0][0], words[-1][1], 0.6, "label"
        if len(words) == 1 and words[0][2] in self.given and not shouting(words[0]):
            return words[0][0], words[0][1], 0.3, "gazetteer"
        return None

    @staticmethod
    def _not_titles(words: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
        """The name words up to the first title-like word ("Dear Sir" names nobody)."""
        name = []
        for word in words:
            if word[2] in TITLES or word[2] in POST_TITLES:
                break
            name.append(word)
        return name

    @staticmethod
    def _title_before(text: str, start: int) -> bool:
        head = text[max(0, start - 14) : start]
        tail = _TITLE_TAIL.search(head)
        if tail is None:
            return False
        word = re.search(r"([^\W\d_]+)$", head[: tail.start()])
        # Titles are written capitalised: "Op. Dr.", not "op ON" (SQL) or "0.3 ms" (milliseconds).
        return word is not None and word.group(1)[0].isupper() and fold(word.group(1)) in TITLES
