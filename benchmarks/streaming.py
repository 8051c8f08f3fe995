"""Per-chunk compute of the causal model streaming, against its 80 ms chunk.

The causal model streams the bundled speech chunk by chunk (1280 samples,
80 ms at 16 kHz, 4 tokens) through ``codec.stream_encoder`` and
``codec.stream_decoder`` (explicit state: attention cache, convolution
contexts); every chunk is encoded then decoded, and the median chunk after
the warm-up is reported. Real time means encode + decode < 80 ms; the target
is < 40 ms. The fast mode streams with bfloat16 linear layers and matrix-product
convolutions (all but the depth-wise ones) in every lobe; the table gives the
share of its streamed tokens equal to the float32 ones. With ``--reference
PATH`` the official implementation streams the same chunks with its own state
API, in the same run.

    python -m benchmarks.streaming --reference /path/to/focalcodec [--device cuda]

Authors
 * speechbrain-focalcodec developers 2026
"""

import statistics
import sys
import time
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from benchmarks.common import (
    base_parser,
    build_codec,
    load_reference,
    markdown,
    reference_twin,
    setup,
    speech,
)
from speechbrain_focalcodec.fast_mode import bf16_supported, fast_codec, token_agreement

FAST_MODULES = ("encoder", "compressor", "decompressor", "decoder")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ours_stream(
    codec, chunks: List[torch.Tensor], toks: Optional[List[torch.Tensor]] = None
) -> List[Tuple[float, float]]:
    """(encode, decode) seconds of every chunk through the streaming API; the
    tokens of every chunk are appended to ``toks`` when given."""
    encoder, decoder = codec.stream_encoder(1), codec.stream_decoder(1)
    times = []
    with torch.inference_mode():
        for chunk in chunks:
            start = time.perf_counter()
            chunk_toks = encoder(chunk)
            _sync(chunk.device)
            middle = time.perf_counter()
            decoder(chunk_toks)
            _sync(chunk.device)
            times.append((middle - start, time.perf_counter() - middle))
            if toks is not None:
                toks.append(chunk_toks)
    return times


def official_stream(official, chunks: List[torch.Tensor]) -> List[Tuple[float, float]]:
    """(encode, decode) seconds of every chunk through the official state API."""
    times = []
    states: List = [(), (), (), ()]
    with torch.inference_mode():
        for chunk in chunks:
            start = time.perf_counter()
            toks, states[0], states[1] = official.sig_to_toks(
                chunk, states[0], states[1], return_state=True
            )
            middle = time.perf_counter()
            _, states[2], states[3] = official.toks_to_sig(
                toks, states[2], states[3], return_state=True
            )
            times.append((middle - start, time.perf_counter() - middle))
    return times


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the benchmark and prints a markdown table."""
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--reference", help="checkout of the official implementation")
    parser.add_argument("--chunks", type=int, default=100, help="timed chunks per stream")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device here; use --device cpu")
    setup(args)
    codec = build_codec("causal", args.tiny).to(device)
    chunk_ms = 1000.0 * codec.chunk_size / codec.sample_rate_input
    count = 8 if args.tiny else args.chunks
    warmup = 3 if args.tiny else 10
    audio = speech((count + warmup) * codec.chunk_size / codec.sample_rate_input)
    chunks = list(audio.to(device).split(codec.chunk_size, dim=1))
    toks: Dict[str, List[torch.Tensor]] = {"float32": [], "fast": []}
    runs = {"this package, float32": partial(ours_stream, codec, toks=toks["float32"])}
    if bf16_supported(device):
        fast = fast_codec(codec, FAST_MODULES, convolutions=True)
        fast_name = "this package, fast mode (bf16 linear layers and convolutions)"
        runs[fast_name] = partial(ours_stream, fast, toks=toks["fast"])
    reference = load_reference(args.reference)
    if reference is not None:
        official = reference_twin(reference, codec).to(device)
        runs["official, float32"] = partial(official_stream, official)
    per_chunk: Dict[str, List[Tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(max(1, args.repeats // 2)):  # alternate whole streams
        for name, run in runs.items():
            per_chunk[name] += run(chunks)[warmup:]
    agreement = {}
    if toks["fast"]:
        fast_toks, float_toks = torch.cat(toks["fast"], dim=1), torch.cat(toks["float32"], dim=1)
        agreement = {fast_name: f"{100.0 * token_agreement(fast_toks, float_toks):.2f}%"}
    rows = []
    for name, times in per_chunk.items():
        encode = 1000.0 * statistics.median(t[0] for t in times)
        decode = 1000.0 * statistics.median(t[1] for t in times)
        total = 1000.0 * statistics.median(t[0] + t[1] for t in times)
        worst = 1000.0 * max(t[0] + t[1] for t in times)
        rows.append(
            [
                name,
                f"{encode:.1f}",
                f"{decode:.1f}",
                f"{total:.1f}",
                f"{worst:.1f}",
                f"{total / chunk_ms:.2f}",
                "yes" if total < chunk_ms else "no",
                agreement.get(name, "-"),
            ]
        )
    header = ["streaming", "encode (ms)", "decode (ms)", "per chunk (ms)", "slowest chunk (ms)"]
    header += [f"median / {chunk_ms:g} ms", "real time", "tokens equal to float32"]
    print()
    print(markdown(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
