from comox.cache.key import Scope, deterministic, exact_key, partition_key, question, subject_hash

SCOPE = Scope("acme", "public", "chat", "chat", False, "m")


def body(text: str, **extra) -> dict:
    return {"model": "m", "temperature": 0, "messages": [{"role": "user", "content": text}], **extra}


def test_only_greedy_sampling_or_a_seed_is_deterministic():
    assert deterministic({"temperature": 0}) and deterministic({"temperature": 0.0})
    assert deterministic({"seed": 7, "temperature": 0.8})
    assert not deterministic({}) and not deterministic({"temperature": 0.2})
    assert not deterministic({"temperature": False}) and not deterministic({"seed": True})


def test_the_key_ignores_field_order_and_fields_that_do_not_shape_the_answer():
    a = body("hi", max_tokens=5, user="u1", stream=True)
    b = {"max_tokens": 5, "messages": [{"content": "hi", "role": "user"}], "temperature": 0, "model": "m"}
    assert exact_key(SCOPE, a, True) == exact_key(SCOPE, b, False)
    assert exact_key(SCOPE, a, True) != exact_key(SCOPE, body("hi", max_tokens=6), False)


def test_tenant_class_model_and_family_each_separate_keys():
    key = exact_key(SCOPE, body("hi"), False)
    for other in (
        Scope("other", "public", "chat", "chat", False, "m"),
        Scope("acme", "personal", "chat", "chat", False, "m"),
        Scope("acme", "public", "chat", "chat", False, "m@v2"),
        Scope("acme", "public", "chat", "anthropic", True, "m"),
    ):
        assert exact_key(other, body("hi"), False) != key


def test_stream_form_families_key_streams_apart():
    scope = Scope("acme", "public", "chat", "anthropic", True, "m")
    assert exact_key(scope, body("hi"), True) != exact_key(scope, body("hi"), False)


def test_the_partition_holds_everything_but_the_last_user_message():
    system = [{"role": "system", "content": "be brief"}]
    a = {**body("x"), "messages": [*system, {"role": "user", "content": "capital of France?"}]}
    b = {**body("x"), "messages": [*system, {"role": "user", "content": "France's capital?"}]}
    c = {**body("x"), "messages": [{"role": "system", "content": "be verbose"}, a["messages"][1]]}
    assert partition_key(SCOPE, a, False) == partition_key(SCOPE, b, False)
    assert partition_key(SCOPE, a, False) != partition_key(SCOPE, c, False)
    assert partition_key(SCOPE, a, False) != partition_key(SCOPE, {**a, "max_tokens": 3}, False)


def test_the_question_is_the_last_message_when_it_is_user_text():
    assert question(body("  hello ")) == "hello"
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert question(body("")) is None
    assert question({"messages": [{"role": "user", "content": parts}]}) == "a\nb"
    image = [{"type": "image_url", "image_url": {"url": "x"}}]
    assert question({"messages": [{"role": "user", "content": image}]}) is None
    assert question({"messages": [{"role": "assistant", "content": "hi"}]}) is None
    assert question({"prompt": "hi"}) is None


def test_subjects_are_hashed():
    assert subject_hash("jane") == subject_hash("jane") != subject_hash("john")
    assert "jane" not in subject_hash("jane")
