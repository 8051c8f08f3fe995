"""Fast mode (bfloat16 products) against the float32 paths: speed and token agreement.

Encoding speed on 10 s of speech (same run, interleaved) and token agreement
with the float32 tokens (the official implementation's with ``--reference``,
else this package's) over every bundled LibriSpeech utterance, each encoded
alone. Two settings: bfloat16 linear layers in the encoder (default of
``fast_codec``), and also in the feature extractor's convolutions.

    python -m benchmarks.fast_mode --reference /path/to/focalcodec

Authors
 * speechbrain-focalcodec developers 2026
"""

import sys
from functools import partial
from typing import Optional, Sequence

from benchmarks.common import (
    SPEECH,
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
from speechbrain_focalcodec.fast_mode import bf16_supported, fast_codec


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the benchmark and prints a markdown table."""
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="50hz", choices=list(VARIANTS))
    parser.add_argument("--reference", help="checkout of the official implementation")
    args = parser.parse_args(argv)
    setup(args)
    if not bf16_supported():
        print("This CPU has no bfloat16 matrix instructions: the fast mode would be slower.")
    codec = build_codec(args.variant, args.tiny)
    models = {
        "this package, float32": codec,
        "fast: bf16 encoder linear layers": fast_codec(codec),
        "fast: + bf16 feature extractor": fast_codec(codec, feature_extractor=True),
    }
    reference = load_reference(args.reference)
    baseline = "this package, float32"
    if reference is not None:
        baseline = "official, float32"
        models = {baseline: reference_twin(reference, codec), **models}
    seconds = 1.0 if args.tiny else 10.0
    sig = speech(seconds)
    times = measure(
        {name: partial(model.sig_to_toks, sig) for name, model in models.items()}, args.repeats
    )
    agreement, total = utterance_agreement(models, baseline, args.tiny)
    rows = [
        [
            name,
            f"{1000 * times[name]:.0f}",
            f"{times[baseline] / times[name]:.2f}x",
            f"{agreement[name]:.2f}%",
        ]
        for name in models
    ]
    num_utterances = 3 if args.tiny else len(SPEECH)
    header = ["encoder", f"encode {seconds:g} s (ms)", f"speed-up vs {baseline}"]
    header.append(f"token agreement ({total} tokens, {num_utterances} utterances)")
    print()
    print(markdown(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
