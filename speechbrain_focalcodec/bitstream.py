"""Token files: a compact bitstream that costs the nominal bitrate, and plain
``.npy`` / ``.pt`` exports for machine-learning pipelines.

Bitstream layout (``.fcz``; integers little-endian)::

    offset  size  field
    0       4     magic "FCZ\\x1a"
    4       1     format version (1)
    5       8     model fingerprint (see ``model_fingerprint``)
    13      1     length n of the model name
    14      n     model name (UTF-8, informative)
    14+n    4     input sample rate (Hz)
    18+n    4     output sample rate (Hz)
    22+n    4     input samples per token (token rate = input rate / this)
    26+n    1     bits per token, log2(codebook size)
    27+n    4     token count N
    31+n    8     original length in input samples
    39+n    P     tokens, bit-packed most significant bit first, P = ceil(N * bits / 8)
    39+n+P  4     CRC-32 of everything before it

10 s at 50 Hz with 8192 codes is 500 tokens of 13 bits: 813 bytes of payload
(6500 bits), plus 43 bytes of header and checksum for an unnamed model.

Authors
 * speechbrain-focalcodec developers 2026
"""

import hashlib
import io
import json
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from torch import Tensor, nn

from speechbrain_focalcodec.files import atomic_write_bytes

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "TokenFile",
    "TokenFileError",
    "check_model",
    "decode_bitstream",
    "encode_bitstream",
    "load_tokens",
    "model_fingerprint",
    "nominal_payload_bytes",
    "pack_tokens",
    "printable",
    "read_header",
    "save_tokens",
    "unpack_tokens",
]

MAGIC = b"FCZ\x1a"
FORMAT_VERSION = 1
_HEAD = struct.Struct("<4sB8sB")  # magic, version, fingerprint, name length
_FIELDS = struct.Struct("<IIIBIQ")  # rates, samples per token, bits, count, length
_CRC = struct.Struct("<I")
BITSTREAM_SUFFIX = ".fcz"
# The original length stated in a header may differ from tokens x hop by at most this
# many tokens (framing at both ends, causal chunk padding); anything else is corrupted.
LENGTH_SLACK_TOKENS = 16


class TokenFileError(ValueError):
    """A token file is unreadable, corrupted or made by another model."""


@dataclass
class TokenFile:
    """Content of a token file.

    Arguments
    ---------
    toks : torch.Tensor
        ``[1, N]`` int64.
    fingerprint : bytes
        Model fingerprint (8 bytes; empty for .npy / .pt files).
    model_name : str
        Model name recorded by the writer.
    sample_rate_input : int
        Input sample rate (0 if unknown).
    sample_rate_output : int
        Output sample rate (0 if unknown).
    samples_per_token : int
        Input samples per token (0 if unknown).
    bits_per_token : int
        Bits per token (0 if unknown).
    num_samples : int
        Original length in input samples (0 if unknown).
    num_tokens : int
        Token count (``toks.shape[-1]``, or the header's count when only the
        header was read).
    """

    toks: Tensor
    fingerprint: bytes = b""
    model_name: str = ""
    sample_rate_input: int = 0
    sample_rate_output: int = 0
    samples_per_token: int = 0
    bits_per_token: int = 0
    num_samples: int = 0
    num_tokens: int = -1

    def __post_init__(self) -> None:
        if self.num_tokens < 0:
            self.num_tokens = self.toks.shape[-1]


def model_fingerprint(codec: nn.Module) -> bytes:
    """8-byte identity of a codec: its configuration and a sample of its weights.

    Arguments
    ---------
    codec : FocalCodec
        The codec.

    Returns
    -------
    fingerprint : bytes
        Equal for the same checkpoint, different for other architectures or
        other weights.
    """
    from speechbrain_focalcodec.codec_config import codec_config

    digest = hashlib.sha256(json.dumps(codec_config(codec), sort_keys=True).encode())
    for name, tensor in sorted(codec.state_dict().items()):
        flat = tensor.detach().reshape(-1)
        step = max(1, flat.numel() // 64)
        sample = flat[::step][:64].to(torch.float32).cpu().numpy()
        digest.update(name.encode() + str(tuple(tensor.shape)).encode() + sample.tobytes())
    return digest.digest()[:8]


def pack_tokens(toks: np.ndarray, bits: int) -> bytes:
    """Packs integers below ``2**bits`` at ``bits`` bits each, MSB first.

    Arguments
    ---------
    toks : numpy.ndarray
        1-D integers in ``[0, 2**bits)``.
    bits : int
        Bits per token.

    Returns
    -------
    payload : bytes
        ``ceil(len(toks) * bits / 8)`` bytes, the last one zero-padded.

    Example
    -------
    >>> pack_tokens(np.array([5, 3]), 3).hex()
    'ac'
    >>> unpack_tokens(pack_tokens(np.array([8191, 0, 77]), 13), 3, 13)
    array([8191,    0,   77])
    """
    shifts = np.arange(bits - 1, -1, -1, dtype=np.int64)
    matrix = (toks.astype(np.int64)[:, None] >> shifts) & 1
    return np.packbits(matrix.astype(np.uint8).reshape(-1)).tobytes()


def unpack_tokens(payload: bytes, count: int, bits: int) -> np.ndarray:
    """Inverse of ``pack_tokens``.

    Arguments
    ---------
    payload : bytes
        Packed tokens.
    count : int
        Number of tokens.
    bits : int
        Bits per token.

    Returns
    -------
    toks : numpy.ndarray
        1-D int64.
    """
    stream = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))[: count * bits]
    weights = np.left_shift(np.int64(1), np.arange(bits - 1, -1, -1, dtype=np.int64))
    return stream.reshape(count, bits).astype(np.int64) @ weights


def encode_bitstream(
    toks: Tensor, codec: nn.Module, num_samples: int, model_name: str = ""
) -> bytes:
    """Serializes the tokens of one utterance.

    Arguments
    ---------
    toks : torch.Tensor
        ``[N]`` or ``[1, N]`` integers of ``codec``.
    codec : FocalCodec
        The codec that made them.
    num_samples : int
        Length of the encoded waveform at ``codec.sample_rate_input``.
    model_name : str
        Name to record (e.g. the Hugging Face id); at most 255 UTF-8 bytes.

    Returns
    -------
    data : bytes
    """
    if not isinstance(toks, Tensor) or toks.ndim not in (1, 2) or toks.shape[-1] == 0:
        raise ValueError("`toks` must be a non-empty tensor of shape [N] or [1, N]")
    if toks.ndim == 2 and toks.shape[0] != 1:
        raise ValueError(f"a token file holds one utterance, got a batch of {toks.shape[0]}")
    toks = codec._check_toks(toks.reshape(1, -1), None)[0].cpu().numpy()
    name = model_name.encode("utf-8")[:255]
    if num_samples < 1:
        raise ValueError(f"`num_samples` must be positive, got {num_samples}")
    _check_fields(
        name,
        b"",
        codec.sample_rate_input,
        codec.sample_rate_output,
        codec.samples_per_token,
        codec.code_dim,
        len(toks),
        num_samples,
    )
    head = _HEAD.pack(MAGIC, FORMAT_VERSION, model_fingerprint(codec), len(name)) + name
    fields = _FIELDS.pack(
        codec.sample_rate_input,
        codec.sample_rate_output,
        codec.samples_per_token,
        codec.code_dim,
        len(toks),
        num_samples,
    )
    body = head + fields + pack_tokens(toks, codec.code_dim)
    return body + _CRC.pack(zlib.crc32(body))


def decode_bitstream(data: bytes) -> TokenFile:
    """Parses and verifies a bitstream (magic, version, lengths, checksum).

    Arguments
    ---------
    data : bytes
        File content.

    Returns
    -------
    token_file : TokenFile

    Raises
    ------
    TokenFileError
        On any inconsistency.

    Example
    -------
    >>> decode_bitstream(b"RIFF....WAVE")
    Traceback (most recent call last):
        ...
    speechbrain_focalcodec.bitstream.TokenFileError: not a FocalCodec token file (bad magic number)
    """
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise TokenFileError("not a FocalCodec token file (bad magic number)")
    start = _check_head(data, len(data))
    _, _, fingerprint, _ = _HEAD.unpack_from(data)
    rate_in, rate_out, per_token, bits, count, num_samples = _FIELDS.unpack_from(data, start)
    payload_start = start + _FIELDS.size
    payload_size = (count * bits + 7) // 8
    _check_size(len(data), payload_start + payload_size + _CRC.size)
    (checksum,) = _CRC.unpack_from(data, len(data) - _CRC.size)
    if zlib.crc32(data[: len(data) - _CRC.size]) != checksum:
        raise TokenFileError("token file is corrupted (checksum mismatch)")
    header = _check_fields(
        data[_HEAD.size : start],
        fingerprint,
        rate_in,
        rate_out,
        per_token,
        bits,
        count,
        num_samples,
    )
    payload = data[payload_start : payload_start + payload_size]
    header.toks = torch.from_numpy(unpack_tokens(payload, count, bits))[None]
    return header


def _check_fields(
    name: bytes,
    fingerprint: bytes,
    rate_in: int,
    rate_out: int,
    per_token: int,
    bits: int,
    count: int,
    num_samples: int,
) -> TokenFile:
    """Every header field within sane bounds and consistent with the token count."""
    from speechbrain_focalcodec.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

    for field, rate in (("input", rate_in), ("output", rate_out)):
        if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            raise TokenFileError(
                f"token file header holds an invalid {field} sample rate ({rate} Hz; "
                f"valid: {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE})"
            )
    if not 1 <= per_token <= rate_in:
        raise TokenFileError(
            f"token file header holds an invalid token hop ({per_token} samples at {rate_in} Hz)"
        )
    if not 1 <= bits <= 32 or count < 1:
        raise TokenFileError(f"token file header holds {count} tokens of {bits} bits")
    slack = LENGTH_SLACK_TOKENS * per_token
    low, high = max(1, (count * per_token) - slack), count * per_token + slack
    if not low <= num_samples <= high:
        raise TokenFileError(
            f"token file header states {num_samples} samples for {count} tokens of "
            f"{per_token} samples (expected {low} to {high}): corrupted header"
        )
    try:
        model_name = name.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenFileError("token file header holds an invalid model name") from None
    empty = torch.zeros(1, 0, dtype=torch.long)
    header = TokenFile(empty, fingerprint, model_name, rate_in, rate_out, per_token, bits)
    header.num_samples, header.num_tokens = num_samples, count
    return header


def read_header(path: Union[str, Path]) -> TokenFile:
    """Header of a ``.fcz`` token file, checked, without loading its tokens.

    The magic number is checked on the first bytes, the size the header
    announces against the file's size, and the checksum over the file read
    in blocks: memory stays constant whatever the file.

    Arguments
    ---------
    path : str or Path
        Token file.

    Returns
    -------
    token_file : TokenFile
        Every field but ``toks`` (empty); ``num_tokens`` holds the count.

    Example
    -------
    >>> from speechbrain_focalcodec.tiny import tiny_codec
    >>> path = getfixture("tmp_path") / "a.fcz"
    >>> _ = save_tokens(path, torch.zeros(1, 10, dtype=torch.long), tiny_codec("50hz"))
    >>> read_header(path).num_tokens
    10
    """
    path = Path(path)
    if not path.is_file():
        raise TokenFileError(f"No such token file: {path}")
    size = path.stat().st_size
    with open(path, "rb") as stream:
        head = stream.read(_HEAD.size + 255 + _FIELDS.size)
        if len(head) < len(MAGIC) or head[: len(MAGIC)] != MAGIC:
            raise TokenFileError(f"{path} is not a FocalCodec token file (bad magic number)")
        start = _check_head(head, size)
        fields = _FIELDS.unpack_from(head, start)
        payload_size = (fields[4] * fields[3] + 7) // 8
        _check_size(size, start + _FIELDS.size + payload_size + _CRC.size)
        stream.seek(0)
        checksum, remaining = 0, size - _CRC.size
        while remaining:
            block = stream.read(min(remaining, 1 << 20))
            if not block:
                raise TokenFileError(f"{path} could not be read whole")
            checksum, remaining = zlib.crc32(block, checksum), remaining - len(block)
        (stored,) = _CRC.unpack(stream.read(_CRC.size))
    if checksum != stored:
        raise TokenFileError("token file is corrupted (checksum mismatch)")
    _, _, fingerprint, _ = _HEAD.unpack_from(head)
    return _check_fields(head[_HEAD.size : start], fingerprint, *fields)


def _check_head(data: bytes, size: int) -> int:
    """Checks the version; returns where the fixed fields start."""
    if size < _HEAD.size or len(data) < _HEAD.size:
        raise TokenFileError(f"truncated token file ({size} bytes)")
    _, version, _, name_length = _HEAD.unpack_from(data)
    if version != FORMAT_VERSION:
        raise TokenFileError(
            f"unsupported token file version {version} (this reader knows {FORMAT_VERSION})"
        )
    start = _HEAD.size + name_length
    if size < start + _FIELDS.size + _CRC.size or len(data) < start + _FIELDS.size:
        raise TokenFileError(f"truncated token file ({size} bytes)")
    return start


def _check_size(size: int, expected: int) -> None:
    if size != expected:
        raise TokenFileError(
            f"token file has {size} bytes, its header announces {expected} (truncated or corrupted)"
        )


def _read_array(path: Path) -> Tensor:
    try:
        if path.suffix == ".npy":
            toks = torch.from_numpy(np.load(path, allow_pickle=False))
        else:
            toks = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # numpy and torch raise many types on bad files
        raise TokenFileError(f"cannot read token file {path}: {error}") from None
    if not isinstance(toks, Tensor) or toks.ndim not in (1, 2) or toks.numel() == 0:
        raise TokenFileError(f"{path} must hold a non-empty [tokens] or [batch, tokens] tensor")
    if toks.is_floating_point() or toks.is_complex() or toks.dtype == torch.bool:
        raise TokenFileError(f"{path} holds {toks.dtype} values, tokens must be integers")
    return toks.long().reshape(-1, toks.shape[-1])


def load_tokens(path: Union[str, Path], codec: Optional[nn.Module] = None) -> TokenFile:
    """Reads a token file: ``.fcz`` bitstream, ``.npy`` or ``.pt`` tensor.

    Arguments
    ---------
    path : str or Path
        Token file.
    codec : FocalCodec, optional
        If given, the tokens must belong to it: the bitstream's fingerprint
        must match, and any file's tokens must lie in its codebook.

    Returns
    -------
    token_file : TokenFile
    """
    path = Path(path)
    if not path.is_file():
        raise TokenFileError(f"No such token file: {path}")
    if path.suffix in (".npy", ".pt"):
        token_file = TokenFile(_read_array(path))
    else:
        read_header(path)  # magic and sizes checked before reading the file whole
        token_file = decode_bitstream(path.read_bytes())
    if codec is None:
        return token_file
    check_model(path, token_file, codec)
    low, high = int(token_file.toks.min()), int(token_file.toks.max())
    if low < 0 or high >= codec.codebook_size:
        raise TokenFileError(
            f"{path} holds tokens in [{low}, {high}], outside this model's codebook "
            f"[0, {codec.codebook_size})"
        )
    return token_file


def check_model(path: Union[str, Path], token_file: TokenFile, codec: nn.Module) -> None:
    """Raises ``TokenFileError`` if a bitstream's fingerprint is not ``codec``'s, or
    if its rates, hop or bits are not ``codec``'s.

    Arguments
    ---------
    path : str or Path
        The file (for the message).
    token_file : TokenFile
        Its content or header.
    codec : FocalCodec
        The model that should read it.
    """
    if token_file.fingerprint and token_file.fingerprint != model_fingerprint(codec):
        made_by = f" '{printable(token_file.model_name)}'" if token_file.model_name else ""
        raise TokenFileError(
            f"{path} was made by another model{made_by} ({token_file.bits_per_token} bits per "
            f"token, {token_file.sample_rate_input} Hz); decode it with that model"
        )
    if token_file.fingerprint:
        stated = (
            token_file.sample_rate_input,
            token_file.sample_rate_output,
            token_file.samples_per_token,
            token_file.bits_per_token,
        )
        actual = (
            codec.sample_rate_input,
            codec.sample_rate_output,
            codec.samples_per_token,
            codec.code_dim,
        )
        if stated != actual:
            raise TokenFileError(
                f"{path} states rates, hop and bits {stated} but its model has {actual}: "
                "corrupted header"
            )


def save_tokens(
    path: Union[str, Path],
    toks: Tensor,
    codec: Optional[nn.Module] = None,
    num_samples: Optional[int] = None,
    model_name: str = "",
) -> int:
    """Writes tokens as a bitstream (``.fcz``, needs ``codec``) or a tensor
    (``.npy``: int64 array; ``.pt``: int64 torch tensor).

    Arguments
    ---------
    path : str or Path
        Output file; the suffix picks the format.
    toks : torch.Tensor
        ``[N]`` or ``[1, N]`` tokens (``[B, N]`` for .npy / .pt).
    codec : FocalCodec, optional
        The codec that made them (required for .fcz).
    num_samples : int, optional
        Original length in input samples (.fcz); default: tokens times
        samples per token.
    model_name : str
        Name recorded in a bitstream.

    Returns
    -------
    size : int
        Bytes written.

    Example
    -------
    >>> path = getfixture("tmpdir") / "toks.npy"
    >>> save_tokens(path, torch.tensor([[1, 2, 3]])) > 0
    True
    >>> load_tokens(path).toks
    tensor([[1, 2, 3]])
    """
    path = Path(path)
    if path.suffix in (".npy", ".pt"):
        if not isinstance(toks, Tensor) or toks.is_floating_point():
            raise ValueError("`toks` must be an integer tensor")
        buffer = io.BytesIO()
        if path.suffix == ".npy":
            np.save(buffer, toks.detach().cpu().long().numpy())
        else:
            torch.save(toks.detach().cpu().long(), buffer)
        data = buffer.getvalue()
    else:
        if codec is None:
            raise ValueError(f"writing a {BITSTREAM_SUFFIX} bitstream needs the codec")
        if num_samples is None:
            num_samples = toks.shape[-1] * codec.samples_per_token
        data = encode_bitstream(toks, codec, num_samples, model_name)
    atomic_write_bytes(path, data)
    return len(data)


def printable(text: str) -> str:
    r"""``text`` with control characters (terminal escapes, newlines) escaped.

    Arguments
    ---------
    text : str
        A string read from a file.

    Returns
    -------
    text : str
        Safe to print on a terminal; printable characters are kept.

    Example
    -------
    >>> print(printable("model\x1b[2J\nname é"))
    model\x1b[2J\nname é
    """
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def nominal_payload_bytes(num_tokens: int, bits_per_token: int) -> int:
    """Bytes of ``num_tokens`` tokens at ``bits_per_token`` bits.

    Arguments
    ---------
    num_tokens : int
        Token count.
    bits_per_token : int
        Bits per token.

    Returns
    -------
    size : int

    Example
    -------
    >>> nominal_payload_bytes(500, 13)  # 10 s at 50 Hz, 8192 codes
    813
    """
    return math.ceil(num_tokens * bits_per_token / 8)
