"""The payload codec on its own: round trips, rotation, refusals, and keys that never leak."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes

from adapters import temporal_client
from adapters.codec import (
    ENCODING,
    KEY_ID_METADATA,
    CodecError,
    EncryptionCodec,
    EncryptionKey,
    codec_from_settings,
    data_converter,
    new_key_text,
    parse_key,
)
from adapters.settings import ConfigError, Settings, get_settings
from domain.models import Customer

MATERIAL = bytes(range(32))
OTHER = bytes(range(1, 33))
K1 = EncryptionKey.from_bytes("k1", MATERIAL)
K2 = EncryptionKey.from_bytes("k2", OTHER)
SECRET_B64 = base64.b64encode(MATERIAL).decode()


def plain(text: str = '{"name":"Acme GmbH","total":"1234.56"}') -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


def settings_with(key: str = "", previous: str = "") -> Settings:
    return Settings(
        _env_file=None,
        encryption_key=SecretStr(key),
        encryption_keys_previous=SecretStr(previous),
    )


async def test_encrypts_with_the_key_id_and_a_fresh_nonce_and_decrypts_back() -> None:
    codec = EncryptionCodec(K1)
    first, second = await codec.encode([plain(), plain()])
    for sealed in (first, second):
        assert dict(sealed.metadata) == {"encoding": ENCODING, KEY_ID_METADATA: b"k1"}
        assert b"Acme" not in sealed.data and b"1234.56" not in sealed.data
        assert b"json/plain" not in sealed.data  # the original metadata is inside too
    assert first.data[:12] != second.data[:12], "a nonce per payload"
    assert first.data != second.data
    assert await codec.decode([first, second]) == [plain(), plain()]


async def test_plain_payloads_pass_through_decode() -> None:
    """Histories written before encryption was turned on stay readable."""
    assert await EncryptionCodec(K1).decode([plain()]) == [plain()]


async def test_rotation_old_histories_decode_with_the_previous_key() -> None:
    old = (await EncryptionCodec(K1).encode([plain()]))[0]
    rotated = EncryptionCodec(K2, [K1])
    assert await rotated.decode([old]) == [plain()]
    new = (await rotated.encode([plain()]))[0]
    assert new.metadata[KEY_ID_METADATA] == b"k2"
    with pytest.raises(CodecError, match="key id 'k2', which is not configured"):
        await EncryptionCodec(K1).decode([new])


async def test_unknown_key_id_fails_clearly() -> None:
    sealed = (await EncryptionCodec(K1).encode([plain()]))[0]
    with pytest.raises(CodecError) as caught:
        await EncryptionCodec(K2).decode([sealed])
    message = str(caught.value)
    assert "'k1'" in message and "Q2C_ENCRYPTION_KEYS_PREVIOUS" in message
    assert SECRET_B64 not in message


async def test_tampering_is_refused() -> None:
    codec = EncryptionCodec(K1, [EncryptionKey.from_bytes("k1-copy", MATERIAL)])
    sealed = (await codec.encode([plain()]))[0]
    # Another id, even one naming the same key material: the id is authenticated data.
    relabelled = Payload()
    relabelled.CopyFrom(sealed)
    relabelled.metadata[KEY_ID_METADATA] = b"k1-copy"
    truncated = Payload(metadata=sealed.metadata, data=sealed.data[:20])
    empty = Payload(metadata=sealed.metadata)
    for bad, match in [
        (relabelled, "failed authentication"),
        (truncated, "truncated"),
        (empty, "truncated"),
    ]:
        with pytest.raises(CodecError, match=match):
            await codec.decode([bad])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    metadata=st.dictionaries(st.text(min_size=1, max_size=20), st.binary(max_size=40), max_size=4),
    data=st.binary(max_size=2000),
    flip=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
)
async def test_property_round_trip_and_any_flipped_bit_fails(
    metadata: dict[str, bytes], data: bytes, flip: int, bit: int
) -> None:
    codec = EncryptionCodec(K2, [K1])
    original = Payload(metadata=metadata, data=data)
    sealed = (await codec.encode([original]))[0]
    assert (await codec.decode([sealed]))[0] == original
    position = flip % len(sealed.data)
    altered = bytearray(sealed.data)
    altered[position] ^= 1 << bit
    with pytest.raises(CodecError):
        await codec.decode([Payload(metadata=sealed.metadata, data=bytes(altered))])


async def test_through_the_data_converter_models_round_trip() -> None:
    converter = data_converter(settings_with(f"k1:{SECRET_B64}"))
    customer = Customer(id="ACC-1", name="Acme GmbH")
    encoded = await converter.encode([customer])
    assert encoded[0].metadata["encoding"] == ENCODING and b"Acme" not in encoded[0].data
    assert await converter.decode(encoded, [Customer]) == [customer]
    # Failure messages and stack traces are encoded payloads as well.
    assert converter.failure_converter_class is DefaultFailureConverterWithEncodedAttributes
    assert data_converter(settings_with()) is pydantic_data_converter


def test_settings_key_formats() -> None:
    codec = codec_from_settings(
        settings_with(
            f" k2:{base64.b64encode(OTHER).decode()} ", f"k1:{SECRET_B64}, ,k0:{SECRET_B64}"
        )
    )
    assert codec is not None and codec.current is not None
    assert (codec.current.key_id, codec.key_ids) == ("k2", ["k2", "k1", "k0"])
    decode_only = codec_from_settings(settings_with("", f"k1:{SECRET_B64}"))
    assert decode_only is not None and decode_only.current is None
    assert codec_from_settings(settings_with()) is None
    generated = new_key_text("2026-11")
    assert parse_key(generated, "X").key_id == "2026-11"
    assert len(base64.b64decode(generated.split(":")[1])) == 32
    assert new_key_text().startswith("k")


MALFORMED = [
    (SECRET_B64, "no ':' found"),
    (f":{SECRET_B64}", "key id"),
    (f"bad id:{SECRET_B64}", "key id"),
    ("k1:not base64!!", "not valid base64"),
    (f"k1:{base64.b64encode(os.urandom(16)).decode()}", "32 bytes (AES-256), not 16"),
    (f"{SECRET_B64}:k1", "key id"),  # halves swapped: the key must not be echoed as an id
]


@pytest.mark.parametrize(("value", "reason"), MALFORMED)
def test_malformed_key_is_a_config_error_that_never_shows_the_key(value: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        codec_from_settings(settings_with(value))
    message = str(caught.value)
    assert message.startswith("Q2C_ENCRYPTION_KEY: ") and reason in message
    for part in value.split(":"):
        if len(part) > 8:
            assert part not in message
    with pytest.raises(ConfigError, match=r"Q2C_ENCRYPTION_KEYS_PREVIOUS \(entry 2\)"):
        codec_from_settings(settings_with("", f"k1:{SECRET_B64},{value}"))


def test_a_key_id_used_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="'k1' is used twice"):
        codec_from_settings(settings_with(f"k1:{SECRET_B64}", f"k1:{SECRET_B64}"))


def test_no_repr_shows_key_material() -> None:
    text = f"k1:{SECRET_B64}"
    settings_ = settings_with(text, text.replace("k1", "k0"))
    codec = codec_from_settings(settings_)
    assert codec is not None
    shown = " ".join(
        [repr(settings_), str(settings_), repr(codec), repr(K1), repr(data_converter(settings_))]
    )
    assert SECRET_B64 not in shown and MATERIAL.hex() not in shown
    assert "EncryptionKey(key_id='k1')" in repr(K1)


async def test_connect_refuses_a_malformed_key_before_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Worker, CLI and webhook receiver all connect here: a bad key stops them at start-up,
    with the variable named (not 'cannot reach Temporal')."""
    monkeypatch.setenv("Q2C_ENCRYPTION_KEY", f"k1:{SECRET_B64[:-8]}")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"^Q2C_ENCRYPTION_KEY: ") as caught:
            await temporal_client.connect(target_host="127.0.0.1:1")
    finally:
        get_settings.cache_clear()
    assert SECRET_B64[:-8] not in str(caught.value)
