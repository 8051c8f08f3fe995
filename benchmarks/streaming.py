"""Per-chunk compute of the causal model against its 80 ms chunk.

The streaming API (explicit-state chunk methods) is not part of this
branch, so each 1280-sample chunk (80 ms at 16 kHz, 4 tokens) is encoded and
decoded alone with the offline transforms of the causal model: the same
layers on the same 4 frames, without the cached left context (whose
attention over up to 512 past frames adds about 8 MFLOP per layer). Real
time on this machine means encode + decode < 80 ms; the target is < 40 ms.
With ``--reference PATH`` the official implementation streams the same
speech chunk by chunk with its own state (steady state, after the warm-up
chunks), timed in the same run.

    python -m benchmarks.streaming --reference /path/to/focalcodec

Authors
 * speechbrain-focalcodec developers 2026
"""

import sys
import time
from functools import partial
from typing import List, Optional, Sequence

import torch

from benchmarks.common import (
    base_parser,
    build_codec,
    load_reference,
    markdown,
    measure,
    reference_twin,
    setup,
    speech,
)
from speechbrain_focalcodec.fast_mode import bf16_supported, fast_codec

FAST_MODULES = ("encoder", "compressor", "decompressor", "decoder")


def official_stream(official, chunks: List[torch.Tensor], warmup: int) -> List[float]:
    """Per-chunk times of the official streaming API (encode + decode with state)."""
    times = []
    states: List = [(), (), (), ()]
    with torch.inference_mode():
        for index, chunk in enumerate(chunks):
            start = time.perf_counter()
            toks, states[0], states[1] = official.sig_to_toks(
                chunk, states[0], states[1], return_state=True
            )
            _, states[2], states[3] = official.toks_to_sig(
                toks, states[2], states[3], return_state=True
            )
            if index >= warmup:
                times.append(time.perf_counter() - start)
    return times


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the benchmark and prints a markdown table."""
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--reference", help="checkout of the official implementation")
    parser.add_argument("--chunks", type=int, default=50, help="chunks streamed by the official")
    args = parser.parse_args(argv)
    setup(args)
    codec = build_codec("causal", args.tiny)
    chunk_ms = 1000.0 * codec.chunk_size / codec.sample_rate_input
    chunk = speech(codec.chunk_size / codec.sample_rate_input)
    models = {"this package, float32": codec}
    if bf16_supported():
        models["this package, fast mode (bf16 weights)"] = fast_codec(codec, FAST_MODULES)
    functions = {}
    with torch.inference_mode():
        for name, model in models.items():
            toks = model.sig_to_toks(chunk)
            functions[f"{name} encode"] = partial(model.sig_to_toks, chunk)
            functions[f"{name} decode"] = partial(model.toks_to_sig, toks)
    times = measure(functions, max(args.repeats, 10))
    rows = []
    for name in models:
        encode, decode = times[f"{name} encode"], times[f"{name} decode"]
        total = 1000.0 * (encode + decode)
        rows.append(
            [
                name + " (one chunk alone)",
                f"{1000 * encode:.1f}",
                f"{1000 * decode:.1f}",
                f"{total:.1f}",
                f"{total / chunk_ms:.2f}",
                "yes" if total < chunk_ms else "no",
            ]
        )
    reference = load_reference(args.reference)
    if reference is not None:
        official = reference_twin(reference, codec)
        count = 6 if args.tiny else args.chunks
        audio = speech(count * chunk_ms / 1000.0)
        chunks = list(audio.split(codec.chunk_size, dim=1))
        per_chunk = sorted(official_stream(official, chunks, warmup=min(5, count - 1)))
        total = 1000.0 * per_chunk[len(per_chunk) // 2]
        rows.append(
            [
                "official streaming (median chunk, with state)",
                "-",
                "-",
                f"{total:.1f}",
                f"{total / chunk_ms:.2f}",
                "yes" if total < chunk_ms else "no",
            ]
        )
    header = ["model", "encode (ms)", "decode (ms)", "per chunk (ms)"]
    header += [f"compute / {chunk_ms:g} ms", "real time"]
    print()
    print(markdown(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
