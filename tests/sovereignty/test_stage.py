import pytest

from comox.server.errors import GatewayError
from comox.sovereignty.stage import HEADER
from tests.routing.fleet import call
from tests.sovereignty.fleet import stage_for

FLEET = [
    ("eu-self", "EU", "self", False, ("m1", "m2")),
    ("us-self", "US", "self", False, ("m1",)),
    ("eu-cloud", "EU", "acme", True, ("m1",)),
    ("us-cloud", "US", "openai", True, ("m1",)),
]


def admitted(stage, text="hello", cls: str | None = None, key_class: str | None = None, model="m1"):
    headers = {HEADER: cls.encode()} if cls is not None else {}
    c = call(model, {"model": model, "messages": [{"role": "user", "content": text}]}, headers)
    c.data_class = key_class
    stage.admit(c)
    return c


def allowed(stage, router, c) -> set[str]:
    return {
        t.backend.name
        for m in router.chain(c.model)
        for t in router.table.targets(m)
        if c.backend_allowed(t.backend)
    }


def test_header_and_key_default_highest_wins_and_the_default_applies_otherwise():
    stage, router, _ = stage_for(FLEET)
    assert admitted(stage).data_class == "internal"
    assert admitted(stage, cls="public").data_class == "public"
    assert admitted(stage, cls="public", key_class="restricted").data_class == "restricted"
    c = admitted(stage, cls="restricted", key_class="public")
    assert c.data_class == "restricted" and allowed(stage, router, c) == {"eu-self"}


def test_an_unknown_class_is_an_error_naming_the_known_ones():
    stage, _, _ = stage_for(FLEET)
    with pytest.raises(GatewayError) as err:
        admitted(stage, cls="secretish")
    assert err.value.status == 400 and "public, internal, personal, restricted" in err.value.message
    with pytest.raises(GatewayError) as err:
        admitted(stage, key_class="legacy")
    assert err.value.status == 403 and "'legacy'" in err.value.message


def test_pii_raises_the_class_and_is_redacted_for_external_operators_with_restore():
    stage, router, _ = stage_for(FLEET)
    c = admitted(stage, text="mail jane@example.org", cls="public")
    assert c.data_class == "personal"
    assert allowed(stage, router, c) == {"eu-self", "eu-cloud"}
    assert c.payload["messages"][0]["content"] == "mail <EMAIL_1>" and c.payload_changed
    assert (
        c.answer_filter.whole(b'{"choices":[{"text":"<EMAIL_1>"}]}')
        == b'{"choices":[{"text":"jane@example.org"}]}'
    )


def test_a_class_allowed_on_no_backend_of_the_model_is_refused_up_front_naming_class_model_and_rule():
    stage, _, _ = stage_for(
        [("us-self", "US", "self", False, ("m1", "m2")), ("eu-a", "EU", "acme", True, ("m9",))]
    )
    with pytest.raises(GatewayError) as err:
        admitted(stage, cls="restricted")
    message = err.value.message
    assert err.value.status == 403 and err.value.code == "data_class_forbidden"
    assert (
        "'restricted'" in message
        and "'m1'" in message
        and "jurisdictions EU; operators self; no cloud" in message
    )


def test_requests_without_pii_and_without_redaction_rules_are_untouched():
    stage, _, _ = stage_for(FLEET)
    c = admitted(stage, text="no personal data here", cls="personal")
    assert not c.payload_changed and c.answer_filter is None
