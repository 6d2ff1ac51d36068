"""PII detection quality and speed: per-entity precision, recall and leak rate on a labelled Turkish + English
set, false positives on real PII-free text, and throughput per core.

    .venv/bin/python bench/pii_eval.py [--split dev|test] [--docs 400] [--seed 7] [--clean-kb 1000]
                                       [--ner-model PATH]

Splits: ``dev`` (the default) is for tuning the recognizers; ``test`` is held out — another seed, Turkish
mobile prefixes and written phone shapes that dev does not have, and its own templates — and is the figure to
report. Tune on dev, look at test once.

Labelled set: documents generated from templates — HR records, customer complaints, bank letters, patient
notes, tables without any context words, upper-case forms — filled with Faker (tr_TR, en_US, en_GB: valid
TCKNs, IBANs, cards, names) and our own generators (VKN, Turkish phones and plates), each planted value with
its span. Names come from Faker's lists, not from our gazetteer, so PERSON recall is not flattered.
PII-free text: Debian's postgresql-doc-15 HTML (apt-get install postgresql-doc-15), tags stripped; every
finding there is a false positive (IP addresses and e-mail addresses in it are real ones, counted anyway).

Leak rate: planted values that survive strict redaction verbatim. Speed: one process, one thread.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_DOCS = Path("/usr/share/doc/postgresql-doc-15/html")


@dataclass
class Sample:
    language: str
    kind: str
    text: str = ""
    gold: list[tuple[str, int, int]] = field(default_factory=list)  # (entity type, start, end)

    def add(self, literal: str, entity_type: str | None = None, value: str = "") -> None:
        self.text += literal
        if entity_type:
            self.gold.append((entity_type, len(self.text), len(self.text) + len(value)))
            self.text += value


# --- generators --------------------------------------------------------------------------------------------


def make_vkn(rng: random.Random) -> str:
    from governance.pii.validators import vkn_valid

    while True:
        first9 = f"{rng.randrange(10**9):09d}"
        for last in "0123456789":
            if vkn_valid(first9 + last):
                return first9 + last


# Operator prefixes of the early 2000s (50x, 53x–55x) and geographic areas, and mobile ranges that are not on
# such lists (new ranges, ported numbers, M2M and personal numbering). The recognizers must not depend on a
# prefix list, so the two splits use different unlisted ranges: tuning on dev cannot learn test's prefixes.
LISTED_AREAS = ["532", "533", "505", "542", "555", "544", "212", "216", "312", "232"]
UNLISTED_AREAS = {
    "dev": ["510", "512", "516", "522", "524", "528"],
    "test": ["511", "517", "520", "561", "571", "592"],
}
# Written shapes: dev carries the shapes tuning saw; test adds shapes only it has (held out).
TR_PHONE_SHAPES = {
    "dev": [
        "0{area} {a} {b} {c}",
        "+90 {area} {a} {b} {c}",
        "0 ({area}) {a} {b} {c}",
        "0{area}{a}{b}{c}",
        "+90{area}{a}{b}{c}",
        "({area}) {a}-{b}-{c}",
        "0{area}-{a}-{b}{c}",
    ],
    "test": [
        "0{area} {a} {b} {c}",
        "+90 {area} {a} {b} {c}",
        "0 ({area}) {a} {b} {c}",
        "0{area}{a}{b}{c}",
        "+90{area}{a}{b}{c}",
        "({area}) {a}-{b}-{c}",
        "0{area}-{a}-{b}{c}",
        "0090 {area} {a} {b}{c}",
        "+90 ({area}) {a} {b} {c}",
        "+90-{area}-{a}-{b}{c}",
        "0{area}.{a}.{b}.{c}",
        "0 {area} {a} {b}{c}",
    ],
}


def tr_phone(rng: random.Random, split: str = "dev") -> str:
    listed = rng.random() < 0.5
    area = rng.choice(LISTED_AREAS if listed else UNLISTED_AREAS[split])
    a, b, c = f"{rng.randrange(1000):03d}", f"{rng.randrange(100):02d}", f"{rng.randrange(100):02d}"
    a = str(rng.randrange(2, 10)) + a[1:]
    return rng.choice(TR_PHONE_SHAPES[split]).format(area=area, a=a, b=b, c=c)


def en_phone(rng: random.Random) -> str:
    a, b = f"{rng.randrange(200, 999)}", f"{rng.randrange(10000):04d}"
    return rng.choice(
        [
            f"(212) {a}-{b}",
            f"415-{a}-{b}",
            f"+1 646 {a} {b}",
            f"+44 20 {rng.randrange(7000, 7999)} {b}",
            f"+44 7700 {a}{b[:3]}",
        ]
    )


def plate(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVYZ"
    n = rng.choice([1, 2, 3])
    digits = {1: 4, 2: rng.choice([3, 4]), 3: rng.choice([2, 3])}[n]
    province = rng.randrange(1, 82)
    return f"{province:02d} {''.join(rng.choice(letters) for _ in range(n))} {rng.randrange(10 ** (digits - 1), 10**digits)}"


TR_MONTHS = [
    "Ocak",
    "Şubat",
    "Mart",
    "Nisan",
    "Mayıs",
    "Haziran",
    "Temmuz",
    "Ağustos",
    "Eylül",
    "Ekim",
    "Kasım",
    "Aralık",
]


def dob(fake, rng: random.Random, language: str) -> str:
    born = fake.date_of_birth(minimum_age=18, maximum_age=90)
    if language == "tr":
        return rng.choice([born.strftime("%d.%m.%Y"), f"{born.day} {TR_MONTHS[born.month - 1]} {born.year}"])
    return rng.choice([born.strftime("%B %-d, %Y"), born.strftime("%d/%m/%Y"), born.isoformat()])


def card(fake, rng: random.Random) -> str:
    number = fake.credit_card_number(card_type=rng.choice(["visa16", "mastercard", "amex"]))
    if rng.random() < 0.6 and len(number) == 16:
        return " ".join(number[i : i + 4] for i in range(0, 16, 4))
    return number


def spaced_iban(iban: str, rng: random.Random) -> str:
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.6 else iban


class Values:
    def __init__(self, rng: random.Random, split: str = "dev") -> None:
        from faker import Faker

        self.rng, self.split = rng, split
        self.tr, self.us, self.gb = Faker("tr_TR"), Faker("en_US"), Faker("en_GB")
        for fake in (self.tr, self.us, self.gb):
            fake.seed_instance(rng.randrange(10**9))

    def __call__(self, entity_type: str, language: str) -> str:
        rng, fake = self.rng, self.tr if language == "tr" else self.us
        if entity_type == "PERSON":
            return f"{fake.first_name()} {fake.last_name()}"
        if entity_type == "TCKN":
            return self.tr.ssn()
        if entity_type == "VKN":
            return make_vkn(rng)
        if entity_type == "IBAN":
            iban = self.tr.iban() if language == "tr" or rng.random() < 0.3 else self.gb.iban()
            return spaced_iban(iban, rng)
        if entity_type == "CREDIT_CARD":
            return card(fake, rng)
        if entity_type == "EMAIL":
            return fake.email() if rng.random() < 0.5 else fake.company_email()
        if entity_type == "PHONE":
            return tr_phone(rng, self.split) if language == "tr" else en_phone(rng)
        if entity_type == "DATE_OF_BIRTH":
            return dob(fake, rng, language)
        if entity_type == "IP_ADDRESS":
            return fake.ipv4_private() if rng.random() < 0.5 else fake.ipv4_public()
        if entity_type == "TR_PLATE":
            return plate(rng)
        if entity_type == "US_SSN":
            return self.us.ssn()
        raise ValueError(entity_type)


# --- templates: literal text and {ENTITY} fields -------------------------------------------------------------

TEMPLATES = {
    "tr": {
        "hr_record": (
            "PERSONEL KAYDI\nAdı Soyadı: {PERSON}\nT.C. Kimlik No: {TCKN}\nDoğum tarihi: {DATE_OF_BIRTH}\n"
            "Cep telefonu: {PHONE}\nE-posta: {EMAIL}\nMaaş hesabı IBAN: {IBAN}\nAraç plakası: {TR_PLATE}\n"
            "Departman: Muhasebe. İşe giriş tarihi ve görev tanımı ekte sunulmuştur.\n"
        ),
        "complaint": (
            "Sayın yetkili, ben {PERSON}. {DATE_OF_BIRTH} doğumluyum ve 3 yıldır müşterinizim. Geçen ay "
            "{CREDIT_CARD} numaralı kartımdan iki kez ödeme alındı. Kimlik numaram {TCKN}. Lütfen beni {PHONE} "
            "numarasından arayın ya da {EMAIL} adresine yazın. Sorun çözülmezse tüketici hakem heyetine "
            "başvuracağım.\n"
        ),
        "bank_letter": (
            "Sayın {PERSON},\n\n{VKN} vergi kimlik numaralı şirketiniz adına açılan {IBAN} hesabına ilişkin "
            "talimatınız alınmıştır. Havale işlemi iki iş günü içinde gerçekleştirilecektir. Sorularınız için "
            "müşteri temsilciniz {PERSON} ile {PHONE} üzerinden iletişime geçebilirsiniz.\n\nSaygılarımızla\n"
        ),
        "patient_note": (
            "Hasta: {PERSON}, TCKN {TCKN}, d.t. {DATE_OF_BIRTH}. Şikayet: üç gündür süren ateş ve öksürük. "
            "Muayenede akciğer sesleri doğal. Dr. {PERSON} tarafından antibiyotik başlandı. Yakını {PERSON} "
            "bilgilendirildi (tel: {PHONE}). Kontrol bir hafta sonra.\n"
        ),
        "table": (
            "| {PERSON} | {TCKN} | {IBAN} | {EMAIL} |\n| {PERSON} | {TCKN} | {IBAN} | {EMAIL} |\n"
            "| {PERSON} | {TCKN} | {CREDIT_CARD} | {PHONE} |\n"
        ),
        "upper_form": (
            "BAŞVURU FORMU\nADI SOYADI: {PERSON}\nT.C. KİMLİK NUMARASI: {TCKN}\nDOĞUM TARİHİ: {DATE_OF_BIRTH}\n"
            "VERGİ NUMARASI: {VKN}\nTELEFON: {PHONE}\nİKAMETGAH ADRESİ VE DİĞER BİLGİLER EKTEDİR.\n"
        ),
        "it_log": (
            "Güvenlik olayı: {PERSON} kullanıcısının hesabına {IP_ADDRESS} adresinden başarısız giriş denemesi. "
            "Bildirim {EMAIL} adresine gönderildi.\n"
        ),
    },
    "en": {
        "hr_record": (
            "EMPLOYEE RECORD\nName: {PERSON}\nDate of birth: {DATE_OF_BIRTH}\nSSN: {US_SSN}\nMobile: {PHONE}\n"
            "Email: {EMAIL}\nPayroll account (IBAN): {IBAN}\nDepartment: Finance. Contract attached.\n"
        ),
        "complaint": (
            "To whom it may concern, my name is {PERSON} and I was charged twice on card {CREDIT_CARD} last "
            "month. Please call me on {PHONE} or write to {EMAIL}. I was born on {DATE_OF_BIRTH}, if you need "
            "to verify my identity.\n"
        ),
        "bank_letter": (
            "Dear Mr. {PERSON},\n\nWe have received your instruction regarding account {IBAN}. The transfer "
            "will be executed within two business days. Your relationship manager, {PERSON}, is available on "
            "{PHONE}.\n\nKind regards\n"
        ),
        "patient_note": (
            "Patient {PERSON}, DOB {DATE_OF_BIRTH}, SSN {US_SSN}. Presents with fever and cough for three days. "
            "Seen by Dr. {PERSON}. Next of kin {PERSON} informed at {PHONE}.\n"
        ),
        "table": (
            "| {PERSON} | {US_SSN} | {EMAIL} | {PHONE} |\n| {PERSON} | {US_SSN} | {EMAIL} | {CREDIT_CARD} |\n"
            "| {PERSON} | {IP_ADDRESS} | {IBAN} | {EMAIL} |\n"
        ),
        "upper_form": (
            "APPLICATION FORM\nFULL NAME: {PERSON}\nDATE OF BIRTH: {DATE_OF_BIRTH}\nSOCIAL SECURITY NUMBER: "
            "{US_SSN}\nPHONE: {PHONE}\nEMAIL: {EMAIL}\n"
        ),
        "it_log": (
            "Security event: failed login for user {PERSON} from {IP_ADDRESS}; notification sent to {EMAIL}.\n"
        ),
    },
}
# Templates only one split has: phone context words people write before a number (labels, abbreviations).
SPLIT_TEMPLATES = {
    "dev": {
        "tr": {
            "contact_card": (
                "İLETİŞİM\nAd: {PERSON}\nCEP: {PHONE}\nGSM: {PHONE}\nE-posta: {EMAIL}\nVKN: {VKN}\n"
            ),
        },
        "en": {},
    },
    "test": {
        "tr": {
            "contact_card": (
                "Kartvizit — {PERSON}\nTel.: {PHONE} | Faks: {PHONE}\nCep tel: {PHONE}\nIBAN: {IBAN}\n"
                "Doğum tarihi: {DATE_OF_BIRTH}\n"
            ),
            "sms_log": (
                "SMS gönderim kaydı: alıcı {PHONE}, tutar 1.250,00 TL, tarih 12.03.2024. Müşteri TCKN {TCKN}, "
                "geri arama numarası {PHONE}.\n"
            ),
        },
        "en": {},
    },
}
FIELD = re.compile(r"\{([A-Z_]+)\}")


def turkish_upper(text: str) -> str:
    return text.replace("i", "İ").replace("ı", "I").upper()


def generate(count: int, rng: random.Random, split: str = "dev") -> list[Sample]:
    values = Values(rng, split)
    templates = {
        language: {**TEMPLATES[language], **SPLIT_TEMPLATES[split][language]} for language in TEMPLATES
    }
    samples = []
    for index in range(count):
        language = "tr" if index % 2 == 0 else "en"
        kind = rng.choice(list(templates[language]))
        template = templates[language][kind]
        sample = Sample(language, kind)
        cursor = 0
        for match in FIELD.finditer(template):
            entity_type = match.group(1)
            value = values(entity_type, language)
            if kind == "upper_form" and entity_type == "PERSON":
                value = turkish_upper(value) if language == "tr" else value.upper()
            sample.add(template[cursor : match.start()], entity_type, value)
            cursor = match.end()
        sample.add(template[cursor:])
        samples.append(sample)
    return samples


def clean_corpus(limit_kb: int) -> list[str]:
    if not PG_DOCS.exists():
        return []
    from bs4 import BeautifulSoup

    texts, total = [], 0
    for path in sorted(PG_DOCS.glob("*.html")):
        text = BeautifulSoup(path.read_text(encoding="utf-8", errors="replace"), "html.parser").get_text("\n")
        texts.append(text)
        total += len(text.encode())
        if total >= limit_kb * 1024:
            break
    return texts


# --- evaluation ----------------------------------------------------------------------------------------------


def evaluate(samples: list[Sample], clean: list[str]) -> None:
    from governance.pii import engine
    from governance.pii.redaction import redact_text

    engine.analyze("warm up 10000000146")
    stats: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    person_methods: dict[str, Counter[str]] = defaultdict(Counter)
    examples: dict[str, list[str]] = defaultdict(list)
    seconds, size = 0.0, 0
    lang_seconds: Counter[str] = Counter()
    lang_size: Counter[str] = Counter()
    for sample in samples:
        started = time.perf_counter()
        findings = engine.analyze(sample.text, language=sample.language)
        elapsed = time.perf_counter() - started
        seconds += elapsed
        size += len(sample.text.encode())
        lang_seconds[sample.language] += elapsed
        lang_size[sample.language] += len(sample.text.encode())
        redacted = redact_text(sample.text, language=sample.language)
        lang = stats[sample.language]
        matched: set[int] = set()
        for entity_type, start, end in sample.gold:
            lang[entity_type]["gold"] += 1
            hit = next(
                (
                    (i, f)
                    for i, f in enumerate(findings)
                    if f.entity_type == entity_type and f.start < end and f.end > start
                ),
                None,
            )
            if hit is not None:
                lang[entity_type]["tp"] += 1
                matched.add(hit[0])
                if entity_type == "PERSON":
                    person_methods[sample.language][hit[1].method] += 1
            elif len(examples[f"missed {entity_type}"]) < 4:
                examples[f"missed {entity_type}"].append(
                    sample.text[max(0, start - 25) : end + 10].replace("\n", " ")
                )
            if sample.text[start:end] in redacted:
                lang[entity_type]["leaked"] += 1
        for index, finding in enumerate(findings):
            if index in matched:
                continue
            overlaps_gold = any(
                f_start < finding.end and f_end > finding.start for _, f_start, f_end in sample.gold
            )
            if not overlaps_gold or not any(
                t == finding.entity_type and s < finding.end and e > finding.start for t, s, e in sample.gold
            ):
                lang[finding.entity_type]["fp"] += 1
                if len(examples[f"false {finding.entity_type}"]) < 4:
                    examples[f"false {finding.entity_type}"].append(sample.text[finding.start : finding.end])

    clean_findings: Counter[str] = Counter()
    clean_seconds, clean_size = 0.0, 0
    for text in clean:
        started = time.perf_counter()
        findings = engine.analyze(text, language="en")
        clean_seconds += time.perf_counter() - started
        clean_size += len(text.encode())
        for finding in findings:
            clean_findings[finding.entity_type] += 1
            if len(examples[f"clean {finding.entity_type}"]) < 4:
                examples[f"clean {finding.entity_type}"].append(text[finding.start : finding.end])

    print(
        f"\nLabelled set: {len(samples)} documents, {size / 1024:.0f} KB; threshold {engine.REDACT_THRESHOLD}"
    )
    for language in ("tr", "en"):
        print(
            f"\n[{language}] {lang_size[language] / 1024:.0f} KB analysed at "
            f"{lang_size[language] / 1024 / lang_seconds[language]:.0f} KB/s (one core)"
        )
        print(f"[{language}] entity        planted  recall  precision  leaked  leak rate")
        total = Counter[str]()
        for entity_type in sorted(stats[language]):
            c = stats[language][entity_type]
            total.update(c)
            precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else float("nan")
            print(
                f"     {entity_type:<16}{c['gold']:>7}  {c['tp'] / c['gold']:>6.3f}  {precision:>9.3f}"
                f"  {c['leaked']:>6}  {c['leaked'] / c['gold']:>9.3f}"
            )
        precision = total["tp"] / (total["tp"] + total["fp"])
        print(
            f"     {'all':<16}{total['gold']:>7}  {total['tp'] / total['gold']:>6.3f}  {precision:>9.3f}"
            f"  {total['leaked']:>6}  {total['leaked'] / total['gold']:>9.3f}"
        )
        methods = person_methods[language]
        gold_persons = stats[language]["PERSON"]["gold"]
        print(
            "     PERSON caught by: "
            + ", ".join(f"{m} {n / gold_persons:.3f}" for m, n in methods.most_common())
            + " (share of planted names)"
        )
    if clean:
        per_100kb = {k: v * 100 * 1024 / clean_size for k, v in clean_findings.items()}
        print(
            f"\nPII-free text (postgresql-doc-15, {clean_size / 1024:.0f} KB): {sum(clean_findings.values())} findings"
            f" = {sum(per_100kb.values()):.2f} per 100 KB: "
            + ", ".join(f"{k} {v:.2f}" for k, v in sorted(per_100kb.items(), key=lambda kv: -kv[1]))
        )
    else:
        print("\nPII-free text: skipped (apt-get install postgresql-doc-15)")
    print(
        f"\nThroughput, one process: labelled {size / 1024 / seconds:.0f} KB/s, "
        + (f"PII-free {clean_size / 1024 / clean_seconds:.0f} KB/s" if clean else "")
    )
    print("\nExamples:")
    for key in sorted(examples):
        print(f"  {key}: {examples[key]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=400)
    parser.add_argument(
        "--split",
        choices=["dev", "test"],
        default="dev",
        help="dev: tune on it; test: held out (its own seed, unlisted phone prefixes, shapes and templates)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clean-kb", type=int, default=1000)
    parser.add_argument("--ner-model", default="", help="a spaCy pipeline to evaluate as PII_NER_MODEL")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DATA_DIR", str(ROOT / ".data" / "bench"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    if args.ner_model:
        os.environ["PII_NER_MODEL"] = args.ner_model
    import django

    django.setup()  # settings only: no database is needed
    # The split is part of the seed: the test documents are never the dev ones.
    rng = random.Random(args.seed if args.split == "dev" else 1_000_003 * args.seed + 1)
    print(f"split {args.split}, seed {args.seed}, {args.docs} documents")
    evaluate(generate(args.docs, rng, args.split), clean_corpus(args.clean_kb))


if __name__ == "__main__":
    main()
