"""Peak memory and time versus input length (10 s to one hour).

Each measurement runs in a fresh process (peak resident memory is per
process): build the codec (random weights), read the input, then encode and
decode it whole once. Offline attention and its relative position bias grow
with the square of the length, so before each length the peak is predicted
from the previous one (quadratic growth); lengths predicted above
``--max-gb`` are reported as not run rather than risking the machine.

    python -m benchmarks.memory --reference /path/to/focalcodec

Authors
 * speechbrain-focalcodec developers 2026
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

import torch

from benchmarks.common import (
    ROOT,
    VARIANTS,
    base_parser,
    build_codec,
    load_reference,
    markdown,
    reference_twin,
    setup,
    speech,
)

GB = 1024**3


def _rss_bytes() -> int:
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * resource.getpagesize()


def child(variant: str, seconds: float, tiny: bool, reference: Optional[str]) -> Dict:
    """One measurement (in its own process): encode + decode ``seconds`` of speech."""
    codec = build_codec(variant, tiny)
    if reference:
        codec = reference_twin(load_reference(reference), codec)
    codec.max_whole_seconds = None  # the whole-utterance cost, as the official code has it
    sig = speech(seconds)
    base = _rss_bytes()
    start = time.perf_counter()
    with torch.inference_mode():
        toks = codec.sig_to_toks(sig)
        encode = time.perf_counter() - start
        codec.toks_to_sig(toks)
    total = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"encode_s": encode, "total_s": total, "peak_gb": peak / GB, "base_gb": base / GB}


def run_child(variant: str, seconds: float, args) -> Optional[Dict]:
    command = [sys.executable, "-m", "benchmarks.memory", "--child", variant, str(seconds)]
    command += ["--threads", str(args.threads)] + (["--tiny"] if args.tiny else [])
    if args.impl_reference:
        command += ["--reference", args.impl_reference]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return {"error": reason[:120]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the benchmark and prints a markdown table."""
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=["50hz", "causal"], choices=list(VARIANTS))
    parser.add_argument(
        "--lengths", nargs="+", type=float, default=[10, 60, 180, 600, 3600], help="seconds"
    )
    parser.add_argument("--max-gb", type=float, default=8.0, help="largest predicted peak to run")
    parser.add_argument("--reference", help="checkout of the official implementation")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        torch.set_num_threads(args.threads)
        result = child(args.child[0], float(args.child[1]), args.tiny, args.reference)
        print(json.dumps(result))
        return 0
    setup(args)
    lengths = [1.0, 2.0] if args.tiny else sorted(args.lengths)
    header = ["model", "implementation", "input (s)", "peak RSS (GB)", "RSS before (GB)"]
    header += ["encode (s)", "encode + decode (s)", "RTF"]
    rows: List[List[str]] = []
    impls = [("this package", None)] + ([("official", args.reference)] if args.reference else [])
    for variant in args.variants:
        for impl, path in impls:
            args.impl_reference = path
            last = None
            for seconds in lengths:
                if last is not None:
                    extra = (last[1]["peak_gb"] - last[1]["base_gb"]) * (seconds / last[0]) ** 2
                    predicted = last[1]["base_gb"] + extra
                    if predicted > args.max_gb:
                        note = f"not run: predicted {predicted:.0f} GB > --max-gb {args.max_gb:g}"
                        rows.append([variant, impl, f"{seconds:g}", note, "", "", "", ""])
                        continue
                result = run_child(variant, seconds, args)
                if "error" in result:
                    rows.append([variant, impl, f"{seconds:g}", f"failed: {result['error']}"])
                    rows[-1] += [""] * 4
                    continue
                last = (seconds, result)
                rows.append(
                    [
                        variant,
                        impl,
                        f"{seconds:g}",
                        f"{result['peak_gb']:.2f}",
                        f"{result['base_gb']:.2f}",
                        f"{result['encode_s']:.2f}",
                        f"{result['total_s']:.2f}",
                        f"{result['total_s'] / seconds:.3f}",
                    ]
                )
                print("  " + " | ".join(rows[-1]), flush=True)
    print()
    print(markdown(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
