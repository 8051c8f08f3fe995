"""Checks of an exported causal codec: streaming against offline, ours against the official.

``stream_utterance`` encodes a waveform chunk by chunk with the codec's
stream objects (``codec.stream_encoder()`` / ``codec.stream_decoder()``), as
a live application would; ``compare_stream_offline`` measures how it differs
from encoding and decoding the whole utterance at once (the tokens must be
identical). ``compare_with_official`` runs the same utterances through the
official ``focalcodec`` package (a checkout given by path, e.g. in the
``FOCALCODEC_REFERENCE`` environment variable), loading the exported
directory with its own loader.

Authors
 * speechbrain-focalcodec developers 2026
"""

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Dict, Sequence, Tuple, Union

import torch
from torch import Tensor

from speechbrain_focalcodec import FocalCodec

__all__ = ["compare_stream_offline", "compare_with_official", "stream_utterance"]


@torch.no_grad()
def stream_utterance(codec: FocalCodec, sig: Tensor) -> Tuple[Tensor, Tensor]:
    """Encodes then decodes ``sig`` chunk by chunk through the stream objects.

    Arguments
    ---------
    codec : FocalCodec
        A causal codec.
    sig : torch.Tensor
        One waveform at the input rate, ``[1, samples]``.

    Returns
    -------
    toks : torch.Tensor
        ``[1, tokens]``.
    rec_sig : torch.Tensor
        The decoded waveform at the output rate, ``[1, samples']``.

    Example
    -------
    >>> from speechbrain_focalcodec.tiny import tiny_codec
    >>> codec = tiny_codec("causal")
    >>> sig = torch.randn(1, 4000)
    >>> toks, rec = stream_utterance(codec, sig)
    >>> torch.equal(toks, codec.sig_to_toks(sig)), rec.shape[1] == toks.shape[1] * 480
    (True, True)
    """
    encoder, decoder = codec.stream_encoder(), codec.stream_decoder()
    step = codec.chunk_size
    whole = sig.shape[1] // step * step
    toks = [encoder(sig[:, start : start + step]) for start in range(0, whole, step)]
    if sig.shape[1] > whole:
        toks.append(encoder.flush(sig[:, whole:]))
    toks = torch.cat(toks, dim=1)
    per_chunk = codec.chunk_size // codec.samples_per_token
    whole = toks.shape[1] // per_chunk * per_chunk
    rec = [decoder(toks[:, start : start + per_chunk]) for start in range(0, whole, per_chunk)]
    if toks.shape[1] > whole:
        rec.append(decoder.flush(toks[:, whole:]))
    return toks, torch.cat(rec, dim=1)


@torch.no_grad()
def compare_stream_offline(codec: FocalCodec, sig: Tensor) -> Dict[str, float]:
    """How streaming ``sig`` differs from coding it whole.

    Arguments
    ---------
    codec : FocalCodec
        A causal codec.
    sig : torch.Tensor
        One waveform, ``[1, samples]``.

    Returns
    -------
    stats : dict
        ``tokens``, ``tokens_equal`` (fraction of identical tokens) and
        ``max_abs_diff`` between the streamed and the offline decoded waveforms.
    """
    toks, rec = stream_utterance(codec, sig)
    offline_toks = codec.sig_to_toks(sig)
    offline_rec = codec.toks_to_sig(offline_toks)
    count = min(toks.shape[1], offline_toks.shape[1])
    samples = min(rec.shape[1], offline_rec.shape[1])
    return {
        "tokens": int(offline_toks.shape[1]),
        "stream_tokens": int(toks.shape[1]),
        "tokens_equal": float((toks[:, :count] == offline_toks[:, :count]).float().mean()),
        "max_abs_diff": float((rec[:, :samples] - offline_rec[:, :samples]).abs().max()),
    }


def _official_module(checkout: Union[str, Path]):
    checkout = Path(checkout).expanduser().resolve()
    if not (checkout / "focalcodec" / "__init__.py").is_file():
        raise ValueError(f"{checkout} is not a checkout of the official focalcodec package")
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    import focalcodec

    return focalcodec


@torch.no_grad()
def compare_with_official(
    codec_dir: Union[str, Path], checkout: Union[str, Path], sigs: Sequence[Tensor]
) -> Dict[str, float]:
    """Runs utterances through our codec and the official implementation of it.

    Arguments
    ---------
    codec_dir : str or Path
        An exported codec directory (``config.json``, ``model.safetensors``).
    checkout : str or Path
        A checkout of the official ``focalcodec`` package.
    sigs : sequence of torch.Tensor
        Waveforms at 16 kHz, ``[1, samples]`` each.

    Returns
    -------
    stats : dict
        ``tokens`` (total), ``tokens_equal`` (fraction), ``max_abs_diff``
        between the two decodings of the same tokens, and
        ``max_abs_diff_own_tokens`` (each implementation decoding its own).
    """
    official = _official_module(checkout)
    ours = FocalCodec.from_pretrained(codec_dir)
    with tempfile.TemporaryDirectory() as folder:
        # The official loader reads <name>.json next to <name>.safetensors.
        shutil.copy(Path(codec_dir) / "config.json", Path(folder) / "model.json")
        shutil.copy(Path(codec_dir) / "model.safetensors", Path(folder) / "model.safetensors")
        theirs = official.FocalCodec.from_config(str(Path(folder) / "model.json"), True).eval()
    total, equal, diff, diff_own = 0, 0, 0.0, 0.0
    for sig in sigs:
        toks, their_toks = ours.sig_to_toks(sig), theirs.sig_to_toks(sig)
        count = min(toks.shape[1], their_toks.shape[1])
        total += toks.shape[1]
        equal += int((toks[:, :count] == their_toks[:, :count]).sum())
        rec, their_rec = ours.toks_to_sig(toks), theirs.toks_to_sig(toks)
        samples = min(rec.shape[1], their_rec.shape[1])
        diff = max(diff, float((rec[:, :samples] - their_rec[:, :samples]).abs().max()))
        own = theirs.toks_to_sig(their_toks)
        samples = min(rec.shape[1], own.shape[1])
        diff_own = max(diff_own, float((rec[:, :samples] - own[:, :samples]).abs().max()))
    return {
        "tokens": total,
        "tokens_equal": equal / total,
        "max_abs_diff": diff,
        "max_abs_diff_own_tokens": diff_own,
    }
