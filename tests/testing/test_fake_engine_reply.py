from comox.testing.fake_engine_controls import Behaviour, ControlBoard
from comox.testing.fake_engine_openai import plan_chat


def test_reply_layers_scoped_to_a_model_are_only_used_by_that_model():
    board = ControlBoard(Behaviour())
    board.apply({"model": "extract-model", "reply": '{"facts": []}', "times": 1})
    assert board.next_behaviour({}, "test-model").reply is None
    assert board.next_behaviour({}, "extract-model").reply == '{"facts": []}'
    assert board.next_behaviour({}, "extract-model").reply is None  # used up


def test_a_reply_is_answered_verbatim_and_truncated_by_max_tokens():
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    job = plan_chat(body, ("m",), None, lambda: 0.0, reply='{"a": 1,  "b": [2]}')
    assert job.choices[0].text == '{"a": 1,  "b": [2]}'
    job = plan_chat({**body, "max_tokens": 2}, ("m",), None, lambda: 0.0, reply="one two three")
    assert (job.choices[0].text, job.choices[0].finish_reason) == ("one two", "length")
