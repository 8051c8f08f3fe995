"""Token files: the bitstream costs the nominal bitrate to the byte, verifies
itself, rejects other models' files, and survives thousands of corruptions."""

import random
import struct
import zlib

import numpy as np
import pytest
import torch

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.bitstream import (
    TokenFileError,
    decode_bitstream,
    encode_bitstream,
    load_tokens,
    nominal_payload_bytes,
    read_header,
    save_tokens,
)
from tests.conftest import GOLDEN, random_codec

HEADER_BYTES = 39  # fixed header fields, without the model name
CRC_BYTES = 4


@pytest.fixture(scope="module")
def codec():
    return FocalCodec.from_pretrained(GOLDEN / "tiny_50hz")


@pytest.fixture(scope="module")
def ten_seconds(codec, speech):
    sig = torch.cat(speech)[: 10 * 16000 + 80][None]  # 160080 samples -> 500 tokens
    return sig, codec.sig_to_toks(sig)


def test_ten_seconds_cost_the_nominal_bitrate(codec, ten_seconds, tmp_path):
    sig, toks = ten_seconds
    assert toks.shape == (1, 500) and codec.code_dim == 13
    path = tmp_path / "speech.fcz"
    size = save_tokens(path, toks, codec, sig.shape[1], model_name="tiny_50hz")
    assert nominal_payload_bytes(500, 13) == 813
    assert size == path.stat().st_size == HEADER_BYTES + len("tiny_50hz") + 813 + CRC_BYTES
    read = load_tokens(path, codec)
    assert torch.equal(read.toks, toks)
    assert read.num_samples == sig.shape[1] and read.model_name == "tiny_50hz"
    assert (read.sample_rate_input, read.sample_rate_output) == (16000, 16000)
    assert read.bits_per_token == 13 and read.samples_per_token == 320


@pytest.mark.parametrize("suffix", [".npy", ".pt"])
def test_plain_exports(codec, ten_seconds, tmp_path, suffix):
    _, toks = ten_seconds
    path = tmp_path / f"toks{suffix}"
    save_tokens(path, toks)
    assert torch.equal(load_tokens(path, codec).toks, toks)
    loaded = np.load(path) if suffix == ".npy" else torch.load(path, weights_only=True)
    assert loaded.dtype in (np.int64, torch.int64) and tuple(loaded.shape) == (1, 500)


def test_other_models_files_are_rejected(codec, ten_seconds, tmp_path):
    _, toks = ten_seconds
    path = tmp_path / "speech.fcz"
    save_tokens(path, toks, codec, model_name="tiny_50hz")
    causal = FocalCodec.from_pretrained(GOLDEN / "tiny_causal")
    with pytest.raises(TokenFileError, match="made by another model 'tiny_50hz'"):
        load_tokens(path, causal)
    # Same architecture, other weights: still another model.
    with pytest.raises(TokenFileError, match="another model"):
        load_tokens(path, random_codec("50hz", seed=7))
    # Plain tensors carry no identity, but their values must fit the codebook.
    np.save(tmp_path / "big.npy", np.array([[1, 5000]]))
    with pytest.raises(TokenFileError, match=r"outside this model's codebook \[0, 4096\)"):
        load_tokens(tmp_path / "big.npy", causal)


def test_truncated_and_flipped_files(codec, ten_seconds):
    _, toks = ten_seconds
    data = encode_bitstream(toks, codec, 160080)
    with pytest.raises(TokenFileError, match="truncated"):
        decode_bitstream(data[:-1])
    with pytest.raises(TokenFileError, match="truncated"):
        decode_bitstream(data[:20])
    flipped = bytearray(data)
    flipped[100] ^= 0x10
    with pytest.raises(TokenFileError, match="checksum"):
        decode_bitstream(bytes(flipped))
    newer = bytearray(data)
    newer[4] = 2
    with pytest.raises(TokenFileError, match="version 2"):
        decode_bitstream(bytes(newer))
    with pytest.raises(TokenFileError, match="magic"):
        decode_bitstream(b"")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x93NUMPY garbage", "cannot read"),
        (None, "must be integers"),
    ],
)
def test_bad_plain_files(tmp_path, content, message):
    path = tmp_path / "toks.npy"
    if content is None:
        np.save(path, np.zeros((1, 4), dtype=np.float32))
    else:
        path.write_bytes(content)
    with pytest.raises(TokenFileError, match=message):
        load_tokens(path)
    (tmp_path / "toks.pt").write_bytes(b"not a torch file")
    with pytest.raises(TokenFileError, match="cannot read"):
        load_tokens(tmp_path / "toks.pt")


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_fuzz_corrupted_token_files(codec):
    """20000 seeded corruptions: each raises TokenFileError or parses into
    tokens that are consistent with the header; nothing else ever escapes."""
    rng = random.Random(1234)
    generator = torch.Generator().manual_seed(0)
    toks = torch.randint(0, codec.codebook_size, (1, 97), generator=generator)
    data = encode_bitstream(toks, codec, 97 * 320, model_name="fuzz")
    body = data[:-CRC_BYTES]
    outcomes = {"rejected": 0, "parsed": 0}
    for case in range(20000):
        kind = case % 5
        corrupt = bytearray(data)
        if kind == 0:  # truncation
            corrupt = corrupt[: rng.randrange(len(data))]
        elif kind == 1:  # bit flips anywhere
            for _ in range(rng.randint(1, 8)):
                corrupt[rng.randrange(len(corrupt))] ^= 1 << rng.randrange(8)
        elif kind == 2:  # random bytes, sometimes with the right magic
            corrupt = bytearray(rng.randbytes(rng.randrange(80)))
            if rng.random() < 0.5:
                corrupt[:4] = data[:4]
        elif kind == 3:  # header fields changed, checksum recomputed
            mutated = bytearray(body)
            for _ in range(rng.randint(1, 3)):
                mutated[rng.randrange(4, 60)] = rng.randrange(256)
            corrupt = bytearray(with_crc(bytes(mutated)))
        else:  # payload extended or cut, checksum recomputed
            cut = rng.randrange(len(body))
            corrupt = bytearray(with_crc(body[:cut] + rng.randbytes(rng.randrange(8))))
        try:
            parsed = decode_bitstream(bytes(corrupt))
        except TokenFileError:
            outcomes["rejected"] += 1
            continue
        outcomes["parsed"] += 1
        assert parsed.toks.dtype == torch.int64 and parsed.toks.ndim == 2
        assert 0 <= int(parsed.toks.min()) and int(parsed.toks.max()) < 2**parsed.bits_per_token
    assert outcomes["rejected"] > 16000 and outcomes["parsed"] > 0, outcomes


def _forge(data: bytes, name_length: int, **fields) -> bytes:
    """A token file whose header fields are replaced, with a valid checksum."""
    start = 14 + name_length
    names = ["rate_in", "rate_out", "per_token", "bits", "count", "num_samples"]
    values = dict(zip(names, struct.unpack_from("<IIIBIQ", data, start)))
    values.update(fields)
    body = bytearray(data[:-CRC_BYTES])
    struct.pack_into("<IIIBIQ", body, start, *[values[name] for name in names])
    return bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"num_samples": 10**9}, "states 1000000000 samples for 100 tokens"),
        ({"num_samples": 2**64 - 1}, "samples for 100 tokens"),
        ({"num_samples": 0}, "states 0 samples"),
        ({"rate_in": 1_000_000_007}, "invalid input sample rate"),
        ({"rate_out": 3}, "invalid output sample rate"),
        ({"per_token": 10**6}, "invalid token hop"),
    ],
)
def test_absurd_header_fields_are_rejected(codec, tmp_path, fields, message):
    """A valid checksum over absurd fields: rejected before anything is allocated."""
    toks = torch.arange(100)[None]
    data = _forge(encode_bitstream(toks, codec, 100 * 320), 0, **fields)
    with pytest.raises(TokenFileError, match=message):
        decode_bitstream(data)
    path = tmp_path / "forged.fcz"
    path.write_bytes(data)
    with pytest.raises(TokenFileError, match=message):
        read_header(path)
    with pytest.raises(TokenFileError, match=message):
        load_tokens(path, codec)


def test_writer_refuses_inconsistent_lengths(codec):
    with pytest.raises(ValueError, match="samples for 10 tokens"):
        encode_bitstream(torch.zeros(1, 10, dtype=torch.long), codec, 10**6)


def test_header_is_read_without_loading_the_file(codec, tmp_path, monkeypatch):
    """A huge file that is not a token file fails on its first bytes; a token file's
    header is read (and its checksum verified) in blocks, never whole."""
    path = tmp_path / "big.fcz"
    with open(path, "wb") as stream:
        stream.truncate(9 * 2**30)  # sparse: 9 GiB of zeros, no disk used
    monkeypatch.setattr(type(path), "read_bytes", lambda self: pytest.fail("read whole"))
    with pytest.raises(TokenFileError, match="bad magic number"):
        load_tokens(path)
    with pytest.raises(TokenFileError, match="bad magic number"):
        read_header(path)
    toks = torch.arange(100)[None]
    good = tmp_path / "good.fcz"
    save_tokens(good, toks, codec, 100 * 320, model_name="m")
    header = read_header(good)
    assert header.num_tokens == 100 and header.toks.numel() == 0
    assert header.num_samples == 32000 and header.model_name == "m"
    monkeypatch.undo()
    data = bytearray(good.read_bytes())
    data[-12] ^= 1  # a payload bit: only the checksum can tell
    good.write_bytes(bytes(data))
    with pytest.raises(TokenFileError, match="checksum"):
        read_header(good)


def test_stored_names_are_printed_escaped(codec, tmp_path, capsys):
    from speechbrain_focalcodec.cli import main

    path = tmp_path / "evil.fcz"
    save_tokens(path, torch.arange(50)[None], codec, model_name="x\x1b[2J\r\nline")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "\x1b" not in out and "\r" not in out
    assert "'x\\x1b[2J\\r\\nline'" in out


def test_header_fields_must_match_the_model(codec, tmp_path):
    """The model's fingerprint with another hop: decoding would stretch the output."""
    path = tmp_path / "forged.fcz"
    toks = torch.arange(100)[None]
    path.write_bytes(
        _forge(encode_bitstream(toks, codec, 100 * 320), 0, per_token=1, num_samples=100)
    )
    assert load_tokens(path).samples_per_token == 1  # consistent on its own
    with pytest.raises(TokenFileError, match="corrupted header"):
        load_tokens(path, codec)
