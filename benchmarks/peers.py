"""Speed of the usual peer codecs next to FocalCodec, in the same run.

Peers are built from their published architectures (``transformers``
configurations) with random weights, which is enough for speed: EnCodec
24 kHz (1.5 kbps, 2 codebooks), DAC 16 kHz (12 codebooks, 6 kbps; the
architecture does not depend on how many are kept), Mimi (8 codebooks,
1.1 kbps). Each encodes and decodes 10 s of bundled speech resampled to its
rate (``--tiny`` only shortens the input to 1 s and uses a tiny FocalCodec).

    python -m benchmarks.peers

Authors
 * speechbrain-focalcodec developers 2026
"""

import sys
from functools import partial
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch

from benchmarks.common import base_parser, build_codec, markdown, measure, setup, speech
from speechbrain_focalcodec.audio import resample

NAMES = {"encodec": "EnCodec 24 kHz", "dac": "DAC 16 kHz", "mimi": "Mimi (8 codebooks)"}


def peers() -> Dict[str, Tuple[int, float, Callable, Callable]]:
    """Name -> (sample rate, kbps, encode(sig) -> codes, decode(codes) -> sig)."""
    from transformers import (
        DacConfig,
        DacModel,
        EncodecConfig,
        EncodecModel,
        MimiConfig,
        MimiModel,
    )

    torch.manual_seed(0)
    encodec = EncodecModel(EncodecConfig()).eval()
    dac_config = DacConfig(
        sampling_rate=16000,
        encoder_hidden_size=64,
        decoder_hidden_size=1536,
        downsampling_ratios=[2, 4, 5, 8],
        upsampling_ratios=[8, 5, 4, 2],
        hop_length=320,
        n_codebooks=12,
        codebook_size=1024,
        codebook_dim=8,
    )
    dac = DacModel(dac_config).eval()
    mimi = MimiModel(MimiConfig()).eval()
    return {
        "encodec": (
            24000,
            1.5,
            lambda sig: encodec.encode(sig[:, None], bandwidth=1.5).audio_codes,
            lambda codes: encodec.decode(codes, [None]).audio_values,
        ),
        "dac": (
            16000,
            6.0,
            lambda sig: dac.encode(sig[:, None]).audio_codes,
            lambda codes: dac.decode(audio_codes=codes).audio_values,
        ),
        "mimi": (
            24000,
            1.1,
            lambda sig: mimi.encode(sig[:, None], num_quantizers=8).audio_codes,
            lambda codes: mimi.decode(codes).audio_values,
        ),
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the benchmark and prints a markdown table."""
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--peers", nargs="+", default=list(NAMES), choices=list(NAMES))
    args = parser.parse_args(argv)
    setup(args)
    seconds = 1.0 if args.tiny else args.seconds
    sig16 = speech(seconds)
    codec = build_codec("50hz", args.tiny)
    models = {"FocalCodec@50 (this package)": (16000, codec.bitrate / 1000, None, None)}
    models.update({NAMES[key]: value for key, value in peers().items() if key in args.peers})
    functions = {}
    with torch.inference_mode():
        toks = codec.sig_to_toks(sig16)
        functions["FocalCodec@50 (this package) encode"] = partial(codec.sig_to_toks, sig16)
        functions["FocalCodec@50 (this package) decode"] = partial(codec.toks_to_sig, toks)
        for name, (rate, _, encode, decode) in list(models.items())[1:]:
            sig = resample(sig16, 16000, rate)
            codes = encode(sig)
            functions[f"{name} encode"] = partial(encode, sig)
            functions[f"{name} decode"] = partial(decode, codes)
    times = measure(functions, args.repeats)
    base = (
        times["FocalCodec@50 (this package) encode"] + times["FocalCodec@50 (this package) decode"]
    )
    rows = []
    for name, (_, kbps, _, _) in models.items():
        encode, decode = times[f"{name} encode"], times[f"{name} decode"]
        rows.append(
            [
                name,
                f"{kbps:.2f}",
                f"{encode / seconds:.4f}",
                f"{decode / seconds:.4f}",
                f"{(encode + decode) / seconds:.4f}",
                f"{(encode + decode) / base:.2f}",
            ]
        )
    header = ["codec (random weights)", "kbps", "encode RTF", "decode RTF", "end-to-end RTF"]
    header.append("time / FocalCodec@50")
    print()
    print(markdown(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
