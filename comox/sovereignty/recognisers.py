"""Recognisers of personal data: each finds spans of one kind in a text.

A recogniser is anything with `kind` and `find(text) -> iterable of (start, end)`; the
built-in ones are a regular expression plus, where the format has one, a checksum (Luhn for
cards, mod-97 for IBANs and French NIRs, ISO 7064 for German tax ids) so that random digit
runs are not taken for data. An NER model can be plugged in through `NerRecogniser`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

Span = tuple[int, int, str]
"""(start, end, kind) of one finding."""


class Recogniser(Protocol):
    def find(self, text: str) -> Iterable[Span]: ...


@dataclass(frozen=True, slots=True)
class RegexRecogniser:
    kind: str
    pattern: re.Pattern[str]
    check: Callable[[str], bool] | None = None
    """A further test of the matched text (checksum, digit count); None accepts every match."""
    needs: Callable[[str], bool] | None = None
    """A cheap test run first: a text it does not match holds nothing of this kind (most prose
    has no digit and no '@', and then costs one fast C scan per recogniser)."""
    not_after: str = ""
    """Characters that may not precede a finding (checked here rather than by a leading
    look-behind, which would stop the regex engine from skipping quickly to candidates)."""

    def find(self, text: str) -> Iterator[Span]:
        if self.needs is not None and not self.needs(text):
            return
        check, pattern, not_after, pos = self.check, self.pattern, self.not_after, 0
        while (match := pattern.search(text, pos)) is not None:
            start, end = match.span()
            if start and text[start - 1] in not_after:
                pos = _WORD_RUN.match(text, start).end()  # skip the rest of this word or number
                continue
            if check is None or check(match.group(0)):
                yield start, end, self.kind
                pos = end
                continue
            # A checked format that failed may still hold a valid shorter one ("card, then a
            # number"): try ending at each earlier separator, then starting at the next group.
            for cut in range(end - 1, start, -1):
                if text[cut] in " -." and pattern.fullmatch(text, start, cut) and check(text[start:cut]):
                    yield start, cut, self.kind
                    pos = cut
                    break
            else:
                pos = start + 1


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def luhn_ok(text: str) -> bool:
    digits = _digits(text)
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def ssn_ok(text: str) -> bool:
    """Area 000, 666 and 900-999, group 00 and serial 0000 are never issued."""
    area, group, serial = text.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _phone_ok(text: str) -> bool:
    return 9 <= len(_digits(text)) <= 15


def _ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def fr_nir_ok(text: str) -> bool:
    compact = text.replace(" ", "").upper().replace("2A", "19").replace("2B", "18")
    if len(compact) != 15 or not compact.isdigit():
        return False
    return 97 - int(compact[:13]) % 97 == int(compact[13:])


def de_tax_id_ok(text: str) -> bool:
    if len(text) != 11 or text[0] == "0":
        return False
    product = 10
    for ch in text[:10]:
        total = (int(ch) + product) % 10 or 10
        product = (total * 2) % 11
    return (11 - product) % 10 == int(text[10])


_WORD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
_NOT_AFTER = _WORD + "@.+-"  # a finding starts at a word boundary that is not inside an address
_E = r"(?![\w@-])"
_WORD_RUN = re.compile(r"[\w@.+-]*.")


def _has_digit(text: str) -> bool:
    """Ten substring searches in C: far faster than a regex scan for text without digits."""
    return any(d in text for d in "0123456789")


def _has(char: str) -> Callable[[str], bool]:
    return lambda text: char in text


def _rx(kind: str, pattern: str, check=None, needs=_has_digit, not_after=_NOT_AFTER) -> RegexRecogniser:
    return RegexRecogniser(kind, re.compile(pattern), check, needs, not_after)


BUILTIN: dict[str, RegexRecogniser] = {
    "email": _rx(
        "EMAIL",
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
        needs=_has("@"),
        not_after="",
    ),
    "iban": _rx("IBAN", r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?" + _E, iban_ok),
    "credit_card": _rx("CREDIT_CARD", r"\d(?:[ -]?\d){12,18}" + _E, luhn_ok),
    "us_ssn": _rx("US_SSN", r"\d{3}-\d{2}-\d{4}" + _E, ssn_ok),
    "uk_nino": _rx("UK_NINO", r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]" + _E),
    "fr_nir": _rx(
        "FR_NIR", r"[12] ?\d{2} ?(?:0[1-9]|1[0-2]) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}" + _E, fr_nir_ok
    ),
    "de_tax_id": _rx("DE_TAX_ID", r"[1-9]\d{10}" + _E, de_tax_id_ok),
    "phone": _rx(
        "PHONE",
        r"(?:\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,6}"  # E.164 and international forms
        + r"|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}"  # North American
        + r"|0\d{1,4}(?:[ .-]?\d{2,4}){2,4})"  # European national, leading 0
        + _E,
        _phone_ok,
    ),
    "ip": _rx(
        "IP_ADDRESS",
        r"(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{0,4}){2,7}|::[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})(?![\w.:])",
        _ip_ok,
        needs=lambda text: ("." in text or ":" in text) and _has_digit(text),
        not_after=_WORD + ".:",
    ),
}
"""By config name. Order matters for overlaps of equal length: earlier kinds win."""


class NerRecogniser:
    """PERSON, LOCATION and ORGANISATION from an installed spaCy pipeline (optional extra).

    The pipeline is loaded from an installed package or a `spacy.Language` given directly
    (tests build one with an entity ruler); nothing is ever downloaded.
    """

    LABELS = {
        "PERSON": "PERSON",
        "PER": "PERSON",
        "GPE": "LOCATION",
        "LOC": "LOCATION",
        "ORG": "ORGANISATION",
    }

    def __init__(self, nlp) -> None:
        self.nlp = nlp

    @classmethod
    def load(cls, name: str) -> NerRecogniser:
        import spacy  # optional: pip install 'comox[ner]' plus a pipeline package

        return cls(spacy.load(name, disable=["parser", "lemmatizer", "tagger"]))

    def find(self, text: str) -> Iterator[Span]:
        for ent in self.nlp(text).ents:
            kind = self.LABELS.get(ent.label_)
            if kind is not None:
                yield ent.start_char, ent.end_char, kind
