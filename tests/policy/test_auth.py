"""Authentication against the in-memory key table: open mode, and each kind of refusal."""

from __future__ import annotations

import pytest

from comox.policy.auth import Authenticator, KeyTable, presented_key
from comox.policy.keys import KeyRecord, Tenant, generate_key, hash_key
from comox.server.errors import GatewayError
from comox.server.request import Request

SECRET = generate_key()


def request(**headers: bytes) -> Request:
    return Request(
        b"POST",
        b"/v1/chat/completions",
        b"",
        {k.replace("_", "-").encode(): v for k, v in headers.items()},
        b"",
        "",
    )


def table(**extra) -> KeyTable:
    t = KeyTable()
    t.replace(
        [KeyRecord(id="key_1", tenant="acme", hash=hash_key(SECRET), created_at=0.0, **extra)],
        [Tenant("acme", 0.0)],
        1,
    )
    return t


def refusal(auth: Authenticator, req: Request) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        auth.authenticate(req)
    assert info.value.status == 401
    assert SECRET not in info.value.message
    return info.value


def test_gateway_is_open_until_the_first_key_unless_an_admin_key_is_set() -> None:
    assert Authenticator(KeyTable()).authenticate(request()) is None
    assert refusal(Authenticator(KeyTable(), closed=True), request()).code == "missing_api_key"


def test_bearer_and_x_api_key_both_authenticate() -> None:
    auth = Authenticator(table())
    assert auth.authenticate(request(authorization=b"Bearer " + SECRET.encode())).id == "key_1"
    assert auth.authenticate(request(x_api_key=SECRET.encode())).id == "key_1"
    assert presented_key({b"authorization": b"Basic abc"}) is None


def test_each_refusal_says_what_is_wrong_without_echoing_the_key() -> None:
    assert refusal(Authenticator(table()), request()).code == "missing_api_key"
    wrong = request(authorization=b"Bearer ck-" + b"x" * 43)
    assert refusal(Authenticator(table()), wrong).code == "invalid_api_key"
    good = request(authorization=b"Bearer " + SECRET.encode())
    assert refusal(Authenticator(table(revoked_at=5.0)), good).code == "revoked_api_key"
    expired = Authenticator(table(expires_at=100.0), clock=lambda: 100.0)
    assert refusal(expired, good).code == "expired_api_key"
    assert Authenticator(table(expires_at=100.0), clock=lambda: 99.9).authenticate(good).id == "key_1"


def test_a_remembered_key_is_forgotten_when_the_table_changes() -> None:
    t = table()
    auth = Authenticator(t)
    good = request(authorization=b"Bearer " + SECRET.encode())
    assert auth.authenticate(good).id == "key_1"
    assert auth.authenticate(good).id == "key_1"  # from memory, without hashing
    revoked = KeyRecord(id="key_1", tenant="acme", hash=hash_key(SECRET), created_at=0.0, revoked_at=5.0)
    t.replace([revoked], [Tenant("acme", 0.0)], 2)
    assert refusal(auth, good).code == "revoked_api_key"


def test_a_remembered_key_still_expires() -> None:
    now = [99.0]
    auth = Authenticator(table(expires_at=100.0), clock=lambda: now[0])
    for headers in ({"authorization": b"Bearer " + SECRET.encode()}, {"x_api_key": SECRET.encode()}):
        assert auth.authenticate(request(**headers)).id == "key_1"
    now[0] = 100.0
    for headers in ({"authorization": b"Bearer " + SECRET.encode()}, {"x_api_key": SECRET.encode()}):
        assert refusal(auth, request(**headers)).code == "expired_api_key"


def test_only_valid_keys_are_remembered_each_in_its_own_header(monkeypatch) -> None:
    monkeypatch.setattr("comox.policy.auth.KNOWN_MAX", 3)
    t = table()
    auth = Authenticator(t)
    for i in range(5):
        refusal(auth, request(authorization=b"Bearer ck-wrong%d" % i))
    assert not t.known
    assert auth.authenticate(request(x_api_key=SECRET.encode())).id == "key_1"
    # the x-api-key value is not an Authorization value: it still needs the Bearer scheme there
    assert refusal(auth, request(authorization=SECRET.encode())).code == "missing_api_key"
    for spaces in range(6):  # one key spelled many ways: the memory starts over, stays bounded
        assert auth.authenticate(request(authorization=b"Bearer " + SECRET.encode() + b" " * spaces))
        assert len(t.known) <= 3
