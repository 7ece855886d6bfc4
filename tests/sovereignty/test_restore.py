import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from comox.sovereignty.recognisers import BUILTIN
from comox.sovereignty.redaction import Redaction, Redactor, redact_payload
from comox.sovereignty.restore import RestoreFilter, split_partial

REDACTOR = Redactor(list(BUILTIN.values()))
VALUES = ["jane@example.org", "+33 6 12 34 56 78", "4111 1111 1111 1111", "123-45-6789", "10.1.2.3"]


def test_same_value_gets_the_same_placeholder_across_messages_and_restores():
    payload = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Mail jane@example.org or bob@example.org"},
            {"role": "user", "content": [{"type": "text", "text": "again jane@example.org"}]},
        ],
    }
    redacted, redaction = redact_payload(REDACTOR, "chat", payload)
    assert redacted["messages"][0]["content"] == "Mail <EMAIL_1> or <EMAIL_2>"
    assert redacted["messages"][1]["content"][0]["text"] == "again <EMAIL_1>"
    assert payload["messages"][0]["content"].startswith("Mail jane")  # the original is untouched
    assert redaction.restore("to <EMAIL_2>, not <EMAIL_9>") == "to bob@example.org, not <EMAIL_9>"


def test_completions_prompts_and_embedding_inputs_are_redacted():
    redacted, _ = redact_payload(REDACTOR, "completions", {"prompt": ["ip 10.1.2.3", "x"]})
    assert redacted["prompt"] == ["ip <IP_ADDRESS_1>", "x"]
    redacted, _ = redact_payload(REDACTOR, "embeddings", {"input": "ssn 123-45-6789"})
    assert redacted["input"] == "ssn <US_SSN_1>"


def test_whole_answers_are_restored_with_json_escaping_intact():
    r = Redaction()
    name = r.placeholder("PERSON", 'O"Brien\\')
    body = orjson.dumps({"choices": [{"index": 0, "message": {"content": f"hi {name}"}, "text": name}]})
    out = orjson.loads(RestoreFilter(r).whole(body))
    assert out["choices"][0]["message"]["content"] == 'hi O"Brien\\'
    assert out["choices"][0]["text"] == 'O"Brien\\'


def test_split_partial_holds_only_what_may_still_become_a_placeholder():
    assert split_partial("hello <EMA", 12) == ("hello ", "<EMA")
    assert split_partial("a < b", 12) == ("a < b", "")
    assert split_partial("x <EMAIL_1", 12) == ("x ", "<EMAIL_1")
    assert split_partial("x <EMAIL_1>", 12) == ("x <EMAIL_1>", "")


def _events(pieces: list[str], kind: str, choices: int) -> bytes:
    out = []
    for piece in pieces:
        for index in range(choices):
            if kind == "chat":
                choice = {"index": index, "delta": {"content": piece}, "finish_reason": None}
            else:
                choice = {"index": index, "text": piece, "finish_reason": None}
            out.append(b"data: " + orjson.dumps({"id": "x", "choices": [choice]}) + b"\n\n")
    return b"".join(out) + b"data: [DONE]\n\n"


def _texts(stream: bytes, choices: int) -> list[str]:
    got = [""] * choices
    for block in stream.split(b"\n\n"):
        if block.startswith(b"data: {"):
            for c in orjson.loads(block[6:])["choices"]:
                got[c["index"]] += c["delta"]["content"] if "delta" in c else c["text"]
    return got


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.sampled_from([*VALUES, "hello", "<", "a<b", "<EMAIL", ">", " ", "é"]), max_size=20),
    cuts=st.lists(st.integers(1, 6), min_size=1, max_size=30),
    reads=st.lists(st.integers(1, 40), min_size=1, max_size=30),
    kind=st.sampled_from(["chat", "text"]),
    choices=st.integers(1, 2),
)
def test_stream_restore_survives_placeholders_split_across_events_and_reads(
    words, cuts, reads, kind, choices
):
    original = " ".join(words)
    redacted, redaction = redact_payload(REDACTOR, "completions", {"prompt": original})
    text = redacted["prompt"]
    assert not any(v in text for v in VALUES)
    pieces, at, i = [], 0, 0
    while at < len(text):  # token by token, so placeholders fall apart: "<", "EMAIL", "_1", ">"
        pieces.append(text[at : at + cuts[i % len(cuts)]])
        at += cuts[i % len(cuts)]
        i += 1
    stream = _events(pieces, kind, choices)
    f = RestoreFilter(redaction)
    out, at, i = [], 0, 0
    while at < len(stream):
        out.append(f.feed(stream[at : at + reads[i % len(reads)]]))
        at += reads[i % len(reads)]
        i += 1
    out.append(f.flush())
    assert _texts(b"".join(out), choices) == [redaction.restore(text)] * choices
    assert redaction.restore(text) == original


def test_a_stream_without_placeholders_passes_byte_for_byte():
    stream = _events(["plain", " text"], "chat", 1)
    f = RestoreFilter(Redaction({"<EMAIL_1>": "a@b.org"}))
    assert f.feed(stream) + f.flush() == stream
