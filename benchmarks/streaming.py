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

With ``--max-streams`` it finds instead how many concurrent live streams the
machine serves in real time: n streams go through one
``codec.stream_encoder(n)`` and one ``codec.stream_decoder(n)`` (warmed up,
every stream on different speech), for n = 1, 2, ... until the 95th
percentile of the chunk time (encode + decode of all n) reaches the chunk
duration, in float32 and in the fast mode alike (interleaved per n; of
``--repeats`` passes per n, the one with the lowest p95 counts, so that a
burst of load from other jobs does not decide). The table gives p50 / p95
per n; the arithmetic of one stream-chunk (offline
FLOP count of the causal model) gives the achieved rate against the
measured float32 peak.

    python -m benchmarks.streaming --reference /path/to/focalcodec [--device cuda]
    python -m benchmarks.streaming --max-streams [--limit 32]

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
    fp32_peak,
    load_reference,
    markdown,
    reference_twin,
    setup,
    speech,
)
from benchmarks.flops import count_flops
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


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * len(ordered))) - 1))]


def stream_chunk_flops(codec, seconds: float) -> float:
    """FLOPs of encoding and decoding ``seconds`` of one stream (offline count)."""
    sig = speech(1.0)
    with torch.no_grad():
        toks = codec.sig_to_toks(sig)
    total = count_flops(partial(codec.sig_to_toks, sig))
    return (total + count_flops(partial(codec.toks_to_sig, toks))) * seconds


def concurrent_chunks(codec, audio: torch.Tensor, warmup: int) -> List[float]:
    """Seconds per chunk (encode + decode of every row of ``audio``, one live
    stream per row) through one warmed-up multi-stream encoder and decoder."""
    streams = audio.shape[0]
    encoder = codec.stream_encoder(streams, warmup=True)
    decoder = codec.stream_decoder(streams, warmup=True)
    times = []
    with torch.inference_mode():
        for chunk in audio.split(codec.chunk_size, dim=1):
            start = time.perf_counter()
            decoder(encoder(chunk))
            _sync(chunk.device)
            times.append(time.perf_counter() - start)
    return times[warmup:]


def max_streams(args, codec, device: torch.device, peaks: Dict[str, float]) -> int:
    """Prints the table of ``--max-streams`` and the largest real-time counts."""
    chunk_s = codec.chunk_size / codec.sample_rate_input
    flops = stream_chunk_flops(codec, chunk_s)
    models = {"float32": codec}
    if bf16_supported(device):
        models["fast"] = fast_codec(codec, FAST_MODULES, convolutions=True)
    count = 8 if args.tiny else args.chunks
    warmup = 2
    best = {name: 0 for name in models}
    open_ = dict.fromkeys(models, True)
    rows = []
    streams = 0
    while any(open_.values()) and streams < args.limit:
        streams += 1
        audio = speech((count + warmup) * chunk_s, streams).to(device)
        # --repeats passes, the models interleaved in each; per model the pass
        # with the lowest p95 counts (as ``measure`` keeps the best time), so
        # that a burst of load from other jobs does not decide the count.
        passes: Dict[str, List[List[float]]] = {name: [] for name in models if open_[name]}
        for _ in range(args.repeats):
            for name in passes:
                passes[name].append(concurrent_chunks(models[name], audio, warmup))
        row = [str(streams)]
        for name in models:
            if name not in passes:
                row += ["-", "-", "-"]
                continue
            times = min(passes[name], key=lambda pass_: percentile(pass_, 0.95))
            p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
            rate = streams * flops / p50 / 1e9
            row += [f"{1000 * p50:.1f}", f"{1000 * p95:.1f}"]
            row.append(f"{rate:.0f} ({100 * rate / fp32_peak(peaks):.0f}%)")
            if p95 < chunk_s:
                best[name] = streams
            else:
                open_[name] = False
        rows.append(row)
        print("  " + " | ".join(row), flush=True)
    header = ["streams"]
    for name in models:
        header += [f"{name} p50 (ms)", f"{name} p95 (ms)", f"{name} GFLOP/s (of fp32 peak)"]
    print()
    print(
        f"Chunk {1000 * chunk_s:g} ms; {flops / 1e9:.3g} GFLOP per stream-chunk "
        f"({1000 * flops / (fp32_peak(peaks) * 1e9):.1f} ms at the float32 peak)."
    )
    print(markdown(header, rows))
    summary = ", ".join(
        f"{name} {best[name]}" + (f" (stopped at --limit {args.limit})" if open_[name] else "")
        for name in models
    )
    print(f"\nMaximum concurrent real-time streams (p95 < {1000 * chunk_s:g} ms): {summary}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the benchmark and prints a markdown table."""
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--reference", help="checkout of the official implementation")
    parser.add_argument("--chunks", type=int, default=100, help="timed chunks per stream")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--max-streams",
        action="store_true",
        help="find the largest number of concurrent real-time streams (float32 and fast)",
    )
    parser.add_argument("--limit", type=int, default=32, help="most streams tried")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device here; use --device cpu")
    peaks = setup(args)
    codec = build_codec("causal", args.tiny).to(device)
    if args.max_streams:
        if args.limit < 1:
            raise SystemExit("error: --limit must be at least 1")
        return max_streams(args, codec, device, peaks)
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
