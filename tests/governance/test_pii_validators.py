"""Checksum validators: published vectors, and properties over generated numbers (valid ones pass, any
single-digit change fails)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from governance.pii import validators as v


def make_tckn(first9: str) -> str:
    d = [int(ch) for ch in first9]
    d10 = (7 * (d[0] + d[2] + d[4] + d[6] + d[8]) - (d[1] + d[3] + d[5] + d[7])) % 10
    d11 = (sum(d) + d10) % 10
    return f"{first9}{d10}{d11}"


def make_vkn(first9: str) -> str:
    return next(first9 + str(c) for c in range(10) if v.vkn_valid(first9 + str(c)))


def make_tr_iban(bban: str) -> str:
    number = "".join(str(int(ch, 36)) for ch in bban + "TR00")
    return f"TR{98 - int(number) % 97:02d}{bban}"


def make_card(first: str) -> str:
    return next(first + str(c) for c in range(10) if v.luhn_valid(first + str(c)))


nine = st.text("0123456789", min_size=9, max_size=9)


def one_digit_changed(value: str, data: st.DataObject) -> str:
    positions = [i for i, ch in enumerate(value) if ch.isdigit()]
    i = data.draw(st.sampled_from(positions))
    new = data.draw(st.sampled_from([d for d in "0123456789" if d != value[i]]))
    return value[:i] + new + value[i + 1 :]


@pytest.mark.parametrize(
    ("value", "valid"),
    [("10000000146", True), ("17291716050", False), ("01234567890", False), ("1000000014", False)],
)
def test_tckn_known_vectors(value: str, valid: bool) -> None:
    assert v.tckn_valid(value) is valid


@pytest.mark.parametrize(
    ("value", "valid"), [("4540536920", True), ("4540536921", False), ("454053692", False)]
)
def test_vkn_known_vectors(value: str, valid: bool) -> None:
    assert v.vkn_valid(value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("TR33 0006 1005 1978 6457 8413 26", True),
        ("TR330006100519786457841326", True),
        ("TR330006100519786457841327", False),
        ("TR33000610051978645784132", False),  # one character short
        ("GB82 WEST 1234 5698 7654 32", True),
        ("DE89 3704 0044 0532 0130 00", True),
        ("DE89 3704 0044 0532 0130 01", False),
    ],
)
def test_iban_known_vectors(value: str, valid: bool) -> None:
    assert v.iban_valid(value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("4111 1111 1111 1111", True),
        ("5500-0000-0000-0004", True),
        ("4111111111111112", False),
        ("0000000000000", False),
    ],
)
def test_card_known_vectors(value: str, valid: bool) -> None:
    assert v.luhn_valid(value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [("34 ABC 123", True), ("06 A 1234", True), ("81 AB 12", True), ("00 A 12", False), ("82 A 12", False)],
)
def test_tr_plate_known_vectors(value: str, valid: bool) -> None:
    assert v.tr_plate_valid(value) is valid


@given(nine.filter(lambda s: s[0] != "0"), st.data())
def test_every_generated_tckn_passes_and_any_single_digit_change_fails(
    first9: str, data: st.DataObject
) -> None:
    tckn = make_tckn(first9)
    assert v.tckn_valid(tckn)
    assert not v.tckn_valid(one_digit_changed(tckn, data))


@given(nine, st.data())
def test_every_generated_vkn_passes_and_any_single_digit_change_fails(
    first9: str, data: st.DataObject
) -> None:
    vkn = make_vkn(first9)
    assert v.vkn_valid(vkn)
    assert not v.vkn_valid(one_digit_changed(vkn, data))


@given(st.text("0123456789", min_size=22, max_size=22), st.data())
def test_every_generated_tr_iban_passes_and_any_single_digit_change_fails(
    bban: str, data: st.DataObject
) -> None:
    iban = make_tr_iban(bban)
    assert v.iban_valid(iban) and v.iban_valid(" ".join(iban[i : i + 4] for i in range(0, 26, 4)))
    changed = one_digit_changed(iban, data)
    assert not v.iban_valid(changed)


@given(st.text("0123456789", min_size=15, max_size=15).filter(lambda s: len(set(s)) > 1), st.data())
def test_every_generated_card_passes_and_any_single_digit_change_fails(
    first: str, data: st.DataObject
) -> None:
    card = make_card(first)
    assert v.luhn_valid(card)
    assert not v.luhn_valid(one_digit_changed(card, data))
