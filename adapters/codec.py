"""Payload encryption: an AES-256-GCM Temporal payload codec, with key ids for rotation.

With `Q2C_ENCRYPTION_KEY` set, every payload a q2c client or worker sends to Temporal
(workflow and activity inputs and results, signals, updates, queries, memos, activity
summaries, failure details, and, with the encoded failure attributes, failure messages and
stack traces) is replaced by one whose data is the original `Payload` message (protobuf)
encrypted with AES-256-GCM under a random 96-bit nonce:

    metadata: encoding = binary/encrypted, encryption-key-id = <key id>
    data:     nonce (12 bytes) || ciphertext || tag (16 bytes)

The key id is authenticated with the data (associated data), so a payload cannot be made to
claim another key. Decoding picks the key named by the payload, from the current key or
`Q2C_ENCRYPTION_KEYS_PREVIOUS`; a payload that is not encrypted passes through unchanged
(histories written before encryption was turned on stay readable). Search attributes are not
payloads the SDK runs through a codec: the server indexes them, so they stay in clear.

Keys are written `<key id>:<base64 of 32 bytes>`. A malformed key is a `ConfigError` at
start-up whose message names the variable and what is wrong, never the key's text; decoding
with an unknown key id or altered data raises `CodecError` naming the key id. Key material is
held only inside `cryptography`'s AESGCM objects and never appears in a repr.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import os
import re
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from adapters.settings import ConfigError, Settings, get_settings

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
KEY_FORMAT = "<key id>:<base64 of 32 random bytes> (`q2c codec-key` prints one)"
CURRENT_VARIABLE = "Q2C_ENCRYPTION_KEY"
PREVIOUS_VARIABLE = "Q2C_ENCRYPTION_KEYS_PREVIOUS"


class CodecError(Exception):
    """A payload could not be decrypted; the message names its key id, never a key."""


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class EncryptionKey:
    """One AES-256-GCM key and the id payloads name it by."""

    key_id: str
    _aead: AESGCM

    @classmethod
    def from_bytes(cls, key_id: str, material: bytes) -> EncryptionKey:
        if not KEY_ID.match(key_id):
            raise ValueError("key id: 1-64 letters, digits, '.', '_' or '-'")
        if len(material) != KEY_BYTES:
            raise ValueError(f"an AES-256 key is {KEY_BYTES} bytes")
        return cls(key_id, AESGCM(material))

    def __repr__(self) -> str:
        return f"EncryptionKey(key_id={self.key_id!r})"

    @property
    def associated_data(self) -> bytes:
        return b"q2c-payload-v1:" + self.key_id.encode()


def new_key_text(key_id: str | None = None) -> str:
    """A fresh key in the `<key id>:<base64>` form (key id default: today's date)."""
    key_id = key_id or f"k{dt.datetime.now(dt.UTC):%Y%m%d}"
    if not KEY_ID.match(key_id):
        raise ConfigError(f"key id {key_id!r}: use 1-64 letters, digits, '.', '_' or '-'")
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


def parse_key(text: str, where: str) -> EncryptionKey:
    """`<key id>:<base64>` → a key; `where` names the setting (and entry) in errors.

    Error messages say what is wrong without repeating any part of the value: someone who
    swapped the two halves would otherwise see their key echoed as a "key id"."""
    key_id, colon, encoded = text.strip().partition(":")
    if not colon:
        raise ConfigError(f"{where}: expected {KEY_FORMAT}; no ':' found")
    if not KEY_ID.match(key_id):
        raise ConfigError(
            f"{where}: the key id (before ':') must be 1-64 letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit; expected {KEY_FORMAT}"
        )
    try:
        material = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(
            f"{where}: the key (after ':') is not valid base64; expected {KEY_FORMAT}"
        ) from None
    if len(material) != KEY_BYTES:
        raise ConfigError(
            f"{where}: the key must decode to {KEY_BYTES} bytes (AES-256), not "
            f"{len(material)}; expected {KEY_FORMAT}"
        )
    return EncryptionKey.from_bytes(key_id, material)


class EncryptionCodec(PayloadCodec):
    """Encrypts with `current` (if any); decrypts with `current` or any of `previous`."""

    def __init__(self, current: EncryptionKey | None, previous: Sequence[EncryptionKey] = ()):
        self.current = current
        self._keys: dict[str, EncryptionKey] = {}
        for key in [*([current] if current else []), *previous]:
            if key.key_id in self._keys:
                raise ConfigError(
                    f"{CURRENT_VARIABLE}/{PREVIOUS_VARIABLE}: key id {key.key_id!r} is used "
                    "twice; each key needs an id of its own"
                )
            self._keys[key.key_id] = key

    def __repr__(self) -> str:
        current = self.current.key_id if self.current else None
        return f"EncryptionCodec(current={current!r}, keys={sorted(self._keys)!r})"

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key = self.current
        if key is None:  # decode-only (encryption being turned off): send as it is
            return payload
        nonce = os.urandom(NONCE_BYTES)
        sealed = key._aead.encrypt(nonce, payload.SerializeToString(), key.associated_data)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key.key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # not encrypted: written before encryption, or not by q2c
        raw_id = payload.metadata.get(KEY_ID_METADATA, b"")
        key_id = raw_id.decode("utf-8", errors="replace")[:80]
        key = self._keys.get(key_id)
        if key is None:
            known = ", ".join(repr(k) for k in self._keys) or "none"
            raise CodecError(
                f"payload encrypted with key id {key_id!r}, which is not configured (known: "
                f"{known}); add that key to {PREVIOUS_VARIABLE} to read it"
            )
        data = payload.data
        if len(data) < NONCE_BYTES + TAG_BYTES:
            raise CodecError(f"payload encrypted with key id {key_id!r} is truncated")
        try:
            plain = key._aead.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], key.associated_data)
        except InvalidTag:
            raise CodecError(
                f"payload encrypted with key id {key_id!r} failed authentication: it was "
                "altered, or that id names a different key here than where it was written"
            ) from None
        decoded = Payload()
        try:
            decoded.ParseFromString(plain)
        except DecodeError:
            raise CodecError(f"payload under key id {key_id!r} holds no payload") from None
        return decoded


def codec_from_settings(settings: Settings) -> EncryptionCodec | None:
    """The codec the settings ask for, or None when no key is set at all."""
    current_text = settings.encryption_key.get_secret_value().strip()
    previous_text = settings.encryption_keys_previous.get_secret_value().strip()
    if not current_text and not previous_text:
        return None
    current = parse_key(current_text, CURRENT_VARIABLE) if current_text else None
    previous = [
        parse_key(entry, f"{PREVIOUS_VARIABLE} (entry {number})")
        for number, entry in enumerate(previous_text.split(","), start=1)
        if entry.strip()
    ]
    return EncryptionCodec(current, previous)


def data_converter_for(codec: PayloadCodec | None) -> DataConverter:
    """pydantic_data_converter, with `codec` and the failure messages encoded too."""
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def data_converter(settings: Settings | None = None) -> DataConverter:
    """The data converter every q2c client uses (`adapters.temporal_client.connect`)."""
    return data_converter_for(codec_from_settings(settings or get_settings()))
