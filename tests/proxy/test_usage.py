import random

import orjson
import pytest

from comox.proxy.usage import StreamTap, usage_of


def event(obj) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
TOKENS = [event({"choices": [{"index": 0, "delta": {"content": f" t{i}"}}]}) for i in range(3)]
USAGE_EVENT = event({"choices": [], "usage": USAGE})
STREAM = b"".join(TOKENS) + USAGE_EVENT + b"data: [DONE]\n\n"


def feed(tap: StreamTap, data: bytes, cuts: list[int]) -> None:
    last = 0
    for cut in [*sorted(cuts), len(data)]:
        if cut > last:
            tap(data[last:cut])
            last = cut
    tap.flush()


@pytest.mark.parametrize("seed", range(40))
def test_usage_is_found_however_the_stream_is_split(seed):
    rng = random.Random(seed)
    cuts = rng.sample(range(1, len(STREAM)), rng.randint(0, 12))
    out: list[bytes] = []
    tap = StreamTap(out.append, strip=False)
    feed(tap, STREAM, cuts)
    assert tap.usage == USAGE
    assert b"".join(out) == STREAM  # untouched


@pytest.mark.parametrize("seed", range(40))
def test_stripping_removes_only_the_usage_event(seed):
    rng = random.Random(seed)
    cuts = rng.sample(range(1, len(STREAM)), rng.randint(0, 12))
    out: list[bytes] = []
    tap = StreamTap(out.append, strip=True)
    feed(tap, STREAM, cuts)
    assert tap.usage == USAGE
    assert b"".join(out) == b"".join(TOKENS) + b"data: [DONE]\n\n"


def test_usage_on_a_chunk_with_choices_is_kept_even_when_stripping():
    last = event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": USAGE})
    out: list[bytes] = []
    tap = StreamTap(out.append, strip=True)
    tap(TOKENS[0] + last)
    assert tap.usage == USAGE and b"".join(out) == TOKENS[0] + last


def test_text_that_mentions_usage_is_not_mistaken_for_it():
    chatter = event({"choices": [{"index": 0, "delta": {"content": 'the "usage" field'}}]})
    tap = StreamTap(lambda _: None, strip=True)
    tap(chatter)
    assert tap.usage is None


def test_whole_answer_usage():
    assert usage_of(orjson.dumps({"choices": [], "usage": USAGE})) == USAGE
    assert usage_of(b'{"choices": []}') is None
    assert usage_of(b'not json with "usage"') is None


def test_usage_of_reads_only_the_usage_object_yet_agrees_with_a_full_parse():
    nested = {
        "prompt_tokens": 9,
        "completion_tokens": 3,
        "total_tokens": 12,
        "prompt_tokens_details": {"cached_tokens": 4},
        "x": {"y": {"z": {"w": 1}}},
    }
    answers = [
        {"choices": [{"message": {"content": 'quoted "usage": {"total_tokens": 1}'}}], "usage": USAGE},
        {"choices": [], "usage": nested},
        {"choices": [{"message": {"content": 'only text: "usage": {"a": 1}'}}]},
        {"usage": None},
        {"usage": [1, 2]},
    ]
    for answer in answers:
        body = orjson.dumps(answer)
        expected = answer.get("usage") if isinstance(answer.get("usage"), dict) else None
        assert usage_of(body) == expected, body
    assert usage_of(b'{"usage" :  {"total_tokens": 5}}') == {"total_tokens": 5}
    # usage not last, or followed by whitespace: off the compact fast path, same answer
    assert usage_of(b'{"usage":{"total_tokens":5},"system_fingerprint":"fp"}') == {"total_tokens": 5}
    assert usage_of(b'{"usage":{"total_tokens":5}}\n') == {"total_tokens": 5}
    assert usage_of(b'{"response":{"usage":{"total_tokens":5}}}') == {"total_tokens": 5}


def test_usage_of_a_responses_stream_is_read_from_response_completed():
    out: list[bytes] = []
    tap = StreamTap(out.append, strip=False)
    usage = {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}
    tap(b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"hi"}\n\n')
    tap(
        b'event: response.completed\ndata: {"type":"response.completed","response":{"usage":%s}}\n\n'
        % orjson.dumps(usage)
    )
    tap.flush()
    assert tap.usage == usage
