"""Real-time factors of encoding, decoding and both, at batch 1 and 8.

Full-size 50 / 25 / 12.5 Hz and causal architectures with random weights on
10 s of bundled speech per item. RTF = compute time / audio duration (lower
is faster); end-to-end = encode + decode. With ``--reference PATH`` (a
checkout of the official implementation) the official model is built with
the same weights, timed in the same run (interleaved), and its outputs are
compared with this package's.

    python -m benchmarks.rtf --reference /path/to/focalcodec

Authors
 * speechbrain-focalcodec developers 2026
"""

import sys
from functools import partial
from typing import List, Optional, Sequence

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
)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the benchmark and prints a markdown table."""
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--seconds", type=float, default=10.0, help="audio per item")
    parser.add_argument("--reference", help="checkout of the official implementation")
    args = parser.parse_args(argv)
    setup(args)
    reference = load_reference(args.reference)
    seconds = 1.0 if args.tiny else args.seconds
    header = ["model", "batch", "encode RTF", "decode RTF", "end-to-end RTF"]
    if reference is not None:
        header += [
            "official encode RTF",
            "official decode RTF",
            "encode speed-up",
            "decode speed-up",
            "end-to-end speed-up",
            "tokens equal",
            "max signal diff",
        ]
    rows: List[List[str]] = []
    for variant in args.variants:
        codec = build_codec(variant, args.tiny)
        official = reference_twin(reference, codec) if reference is not None else None
        for batch_size in args.batch_sizes:
            sig = speech(seconds, batch_size)
            with torch.inference_mode():
                toks = codec.sig_to_toks(sig)
            functions = {
                "encode": partial(codec.sig_to_toks, sig),
                "decode": partial(codec.toks_to_sig, toks),
            }
            if official is not None:
                functions["official encode"] = partial(official.sig_to_toks, sig)
                functions["official decode"] = partial(official.toks_to_sig, toks)
            times = measure(functions, args.repeats)
            audio = seconds * batch_size
            enc, dec = times["encode"], times["decode"]
            row = [variant, batch_size, f"{enc / audio:.4f}", f"{dec / audio:.4f}"]
            row.append(f"{(enc + dec) / audio:.4f}")
            if official is not None:
                ref_enc, ref_dec = times["official encode"], times["official decode"]
                with torch.inference_mode():
                    same = (official.sig_to_toks(sig) == toks).float().mean().item()
                    diff = (official.toks_to_sig(toks) - codec.toks_to_sig(toks)).abs().max()
                row += [f"{ref_enc / audio:.4f}", f"{ref_dec / audio:.4f}"]
                row += [f"{ref_enc / enc:.2f}x", f"{ref_dec / dec:.2f}x"]
                row += [f"{(ref_enc + ref_dec) / (enc + dec):.2f}x", f"{100 * same:.2f}%"]
                row.append(f"{diff.item():.1e}")
            rows.append(row)
            print(f"  {variant} batch {batch_size}: " + ", ".join(map(str, row[2:])), flush=True)
    print()
    print(markdown(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
