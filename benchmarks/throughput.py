"""Batch throughput (GPU by default, batch 16): float32 and fast mode
(bfloat16), side by side with the official implementation, and the fast
mode's token agreement.

Full-size architectures with random weights on 10 s of bundled speech per
item. Throughput = seconds of audio processed per second of wall time
(higher is faster), timed after CUDA synchronization, interleaved (round
robin) so that clock changes affect every path alike. Token agreement:
every bundled LibriSpeech utterance encoded alone, against the float32
tokens (the official implementation's with ``--reference``).

    python -m benchmarks.throughput --reference /path/to/focalcodec
    python -m benchmarks.throughput --device cpu --batch-size 8

Authors
 * speechbrain-focalcodec developers 2026
"""

import sys
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from benchmarks.common import (
    VARIANTS,
    base_parser,
    build_codec,
    load_reference,
    markdown,
    measure,
    reference_twin,
    setup,
    speech,
    utterance_agreement,
)
from speechbrain_focalcodec.fast_mode import fast_codec


def synced(function: Callable[[], Any], device: torch.device) -> Callable[[], Any]:
    """``function`` followed by a synchronization of ``device`` (GPU work is asynchronous)."""

    def run() -> Any:
        out = function()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return out

    return run


def models_of(codec: Any, reference: Any, device: torch.device) -> Dict[str, Any]:
    """The paths compared: official float32, this package float32 and fast modes."""
    models = {}
    if reference is not None:
        models["official, float32"] = reference_twin(reference, codec.cpu()).to(device)
    codec = codec.to(device)
    models["this package, float32"] = codec
    models["fast: bf16 linear layers"] = fast_codec(
        codec, modules=("encoder", "compressor", "decompressor", "decoder")
    )
    models["fast: + bf16 feature extractor"] = fast_codec(
        codec, modules=("encoder", "compressor", "decompressor", "decoder"), feature_extractor=True
    )
    return models


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the benchmark and prints a markdown table per variant."""
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="audio per item")
    parser.add_argument("--reference", help="checkout of the official implementation")
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cuda or cpu"
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device here; use --device cpu")
    setup(args)
    reference = load_reference(args.reference)
    seconds = 1.0 if args.tiny else args.seconds
    sig = speech(seconds, args.batch_size).to(device)
    audio = seconds * args.batch_size
    for variant in args.variants:
        models = models_of(build_codec(variant, args.tiny), reference, device)
        baseline = next(iter(models))
        with torch.inference_mode():
            toks = {name: model.sig_to_toks(sig) for name, model in models.items()}
        encode = measure(
            {
                name: synced(lambda m=model: m.sig_to_toks(sig), device)
                for name, model in models.items()
            },
            args.repeats,
        )
        decode = measure(
            {
                name: synced(lambda m=model, t=toks[baseline]: m.toks_to_sig(t), device)
                for name, model in models.items()
            },
            args.repeats,
        )
        agree, _ = utterance_agreement(models, baseline, args.tiny, device)
        rows: List[List[str]] = []
        for name in models:
            rows.append(
                [
                    name,
                    f"{audio / encode[name]:.0f}",
                    f"{encode[baseline] / encode[name]:.2f}x",
                    f"{audio / decode[name]:.0f}",
                    f"{decode[baseline] / decode[name]:.2f}x",
                    f"{agree[name]:.2f}%",
                    f"{100.0 * (toks[name] == toks[baseline]).float().mean().item():.2f}%",
                ]
            )
        print(f"\n{variant}, batch {args.batch_size} x {seconds:g} s on {device}")
        print(
            markdown(
                [
                    "path",
                    "encode (audio s / s)",
                    f"encode speed-up vs {baseline}",
                    "decode (audio s / s)",
                    "decode speed-up",
                    "token agreement, utterances alone",
                    "token agreement, this batch",
                ],
                rows,
            )
        )
        del models
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
