"""FLOPs per second of audio, per component, against this machine's matmul peak.

FLOPs are counted with ``torch.utils.flop_counter`` on 10 s of speech
(matrix products and convolutions; attention's two products are added
analytically, 4 T^2 d per layer). The peak is measured here: the best of
large float32 matrix products through oneDNN (what the lobes use), through
``torch.mm`` (MKL) for comparison, and bfloat16 through oneDNN. Efficiency
= achieved FLOP/s / float32 peak; the floor is the time at peak.

    python -m benchmarks.flops --reference /path/to/focalcodec

Authors
 * speechbrain-focalcodec developers 2026
"""

import sys
from functools import partial
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import (
    VARIANTS,
    base_parser,
    build_codec,
    fp32_peak,
    load_reference,
    markdown,
    measure,
    reference_twin,
    setup,
    speech,
)


def count_flops(function: Callable[[], object]) -> float:
    """FLOPs of one call (gradients on, so that every product goes through ATen)."""
    with torch.enable_grad(), FlopCounterMode(display=False) as counter:
        function()
    return float(counter.get_total_flops())


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the benchmark and prints markdown tables."""
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="50hz", choices=list(VARIANTS))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--reference", help="checkout of the official implementation")
    args = parser.parse_args(argv)
    peaks = setup(args)
    seconds = 1.0 if args.tiny else args.seconds
    peak = fp32_peak(peaks)
    print()
    print(markdown(["matrix product", "GFLOP/s"], [[k, f"{v:.0f}"] for k, v in peaks.items()]))
    codec = build_codec(args.variant, args.tiny)
    encoder = codec.encoder
    sig = speech(seconds)
    with torch.no_grad():  # not inference mode: FLOPs are counted with gradients on
        frames = encoder.feature_extractor(sig)[0]
        hidden = encoder.feature_proj(encoder.norm(frames.transpose(1, 2)))
        feats = codec.sig_to_feats(sig)
        codes = codec.sig_to_codes(sig)
        qfeats = codec.decompressor(codes)[0]
    layers = len(encoder.encoder.layers)
    attention = 4.0 * hidden.shape[1] ** 2 * encoder.dim * layers
    components: Dict[str, Tuple[Callable[[], object], float]] = {
        "encoder: convolutional feature extractor": (
            partial(encoder.feature_extractor, sig),
            0.0,
        ),
        "encoder: transformer": (partial(encoder.encoder, hidden), attention),
        "compressor": (partial(codec.compressor, feats), 0.0),
        "decompressor": (partial(codec.decompressor, codes), 0.0),
        "decoder": (partial(codec.decoder, qfeats), 0.0),
    }
    flops = {name: count_flops(fn) + extra for name, (fn, extra) in components.items()}
    functions = {name: fn for name, (fn, _) in components.items()}
    functions["encode (sig_to_toks)"] = partial(codec.sig_to_toks, sig)
    with torch.no_grad():
        toks = codec.sig_to_toks(sig)
    functions["decode (toks_to_sig)"] = partial(codec.toks_to_sig, toks)
    official = None
    reference = load_reference(args.reference)
    if reference is not None:
        official = reference_twin(reference, codec)
        functions["official encode"] = partial(official.sig_to_toks, sig)
        functions["official decode"] = partial(official.toks_to_sig, toks)
    times = measure(functions, args.repeats)
    names = list(components)
    flops["encode (sig_to_toks)"] = sum(flops[n] for n in names[:3])
    flops["decode (toks_to_sig)"] = sum(flops[n] for n in names[3:])
    if official is not None:
        flops["official encode"] = flops["encode (sig_to_toks)"]
        flops["official decode"] = flops["decode (toks_to_sig)"]
    rows = []
    for name, seconds_taken in times.items():
        rate = flops[name] / seconds_taken
        rows.append(
            [
                name,
                f"{flops[name] / seconds / 1e9:.3g}",
                f"{1000 * seconds_taken:.1f}",
                f"{1000 * flops[name] / (peak * 1e9):.1f}",
                f"{rate / 1e9:.0f}",
                f"{100 * rate / (peak * 1e9):.0f}%",
            ]
        )
    header = ["component", "GFLOP per audio second", f"time for {seconds:g} s (ms)"]
    header += ["floor at fp32 peak (ms)", "GFLOP/s", "of fp32 peak"]
    print()
    print(markdown(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
