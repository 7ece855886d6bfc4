"""Key material: random, prefixed, stored only as a hash that repr never shows."""

from comox.policy.keys import KeyRecord, generate_key, hash_key, same_secret


def test_keys_are_random_prefixed_and_high_entropy() -> None:
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(k.startswith("ck-") and len(k) >= 43 for k in keys)


def test_record_repr_and_public_view_never_show_the_hash() -> None:
    secret = generate_key()
    record = KeyRecord(id="key_1", tenant="acme", hash=hash_key(secret), created_at=0.0)
    assert record.hash == hash_key(secret) != secret
    assert record.hash not in repr(record) and secret not in repr(record)
    assert "hash" not in record.public()


def test_admin_secret_comparison() -> None:
    assert same_secret(b"adm", "adm") and not same_secret(b"adm2", "adm")
