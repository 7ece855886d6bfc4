"""Envelope encryption of audit content: AES-256-GCM data keys, wrapped by a master key.

Each subject's content is sealed with its own random data key; only the data key wrapped
by the master key is stored, next to the log. The master key lives elsewhere (a file or an
environment variable by default; a KMS such as Vault transit through `KeyProvider`), so a
copy of the log store alone reveals no content, and destroying one subject's wrapped key
makes everything ever logged for that subject unreadable (crypto-shredding) while the
ciphertext, and the hash chain over it, stay as they were.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE = 12
_WRAP_VERSION = b"\x01"


class KeyUnavailable(Exception):
    """A secret the audit log needs is not configured or cannot be read (the message says which)."""


class KeyProvider(Protocol):
    """Wraps and unwraps data keys with a master key it never hands out.

    The local provider keeps the master key in memory; a KMS provider (Vault transit,
    a cloud KMS) would send the data key to the service's encrypt/decrypt endpoints.
    `context` is bound into the wrapping (additional data), so a wrapped key copied to
    another subject's row does not unwrap.
    """

    async def wrap(self, data_key: bytes, context: bytes) -> bytes: ...

    async def unwrap(self, wrapped: bytes, context: bytes) -> bytes: ...


class LocalKeyProvider:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise KeyUnavailable("the audit master key must be 32 bytes (AES-256)")
        self._aead = AESGCM(master_key)

    async def wrap(self, data_key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return _WRAP_VERSION + nonce + self._aead.encrypt(nonce, data_key, context)

    async def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        if wrapped[:1] != _WRAP_VERSION:
            raise KeyUnavailable("unknown wrapped-key format")
        nonce, sealed = wrapped[1 : 1 + NONCE], wrapped[1 + NONCE :]
        try:
            return self._aead.decrypt(nonce, sealed, context)
        except InvalidTag:
            raise KeyUnavailable("the master key does not unwrap this data key (wrong master key?)") from None


class NoMasterKey:
    """The provider of a log configured without a master key: content cannot be sealed or
    read, but everything else (metadata, verify, erasure of existing keys) works."""

    async def wrap(self, data_key: bytes, context: bytes) -> bytes:
        raise KeyUnavailable("no audit master key configured (audit.master_key_file or its env var)")

    async def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        raise KeyUnavailable("no audit master key configured: content cannot be decrypted")


def provider_from(master_key: bytes | None) -> KeyProvider:
    return NoMasterKey() if master_key is None else LocalKeyProvider(master_key)


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(data_key: bytes, plaintext: bytes, context: bytes) -> bytes:
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(data_key).encrypt(nonce, plaintext, context)


def unseal(data_key: bytes, sealed: bytes, context: bytes) -> bytes:
    """The plaintext; InvalidTag if the ciphertext, the key or the context is not the one sealed."""
    return AESGCM(data_key).decrypt(sealed[:NONCE], sealed[NONCE:], context)


def read_secret(file: str | None, env: str, what: str) -> bytes | None:
    """A secret from `file` (raw bytes, or base64 text), else from the environment variable
    `env` (base64, or text); None when neither is set. Never logged."""
    if file is not None:
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            raise KeyUnavailable(f"cannot read the {what} file {file}: {exc.strerror}") from None
        return _decode(data.strip() if _is_text(data) else data)
    value = os.environ.get(env)
    return _decode(value.strip().encode()) if value else None


def _is_text(data: bytes) -> bool:
    try:
        data.decode("ascii")
    except UnicodeDecodeError:
        return False
    return True


def _decode(data: bytes) -> bytes:
    if len(data) == 32 and not _is_text(data):
        return data
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return data
    return decoded if len(decoded) >= 16 else data


def generate_secret() -> str:
    """A new 32-byte key in base64, for `comox audit keygen`."""
    return base64.b64encode(os.urandom(32)).decode()
