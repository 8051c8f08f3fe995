"""Training steps per second of the recipe's two stages, float32 and mixed
precision side by side.

Builds the Brains of ``recipes/LibriTTS/focalcodec`` from their paper yamls
(full-size models, randomly initialized frozen encoder) and times their
``fit_batch`` on batches shaped like the recipe's: stage 1 a dynamic batch
of ``train_max_batch_length`` seconds (240 s: 40 utterances of 6 s, about
LibriTTS's mean duration), stage 2 ``train_batch_size`` (16) utterances of
6 s, each encoded whole and cut to a 7040-sample segment. Every step is a
full optimizer step (stage 2: discriminators and decoder), encoder forward
included. The batches are bundled speech, so the losses are real ones.

    python -m benchmarks.training_steps --device cuda

Authors
 * speechbrain-focalcodec developers 2026
"""

import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.batch import PaddedBatch

from benchmarks.common import ROOT, base_parser, markdown, setup, speech

RECIPE = ROOT / "recipes" / "LibriTTS" / "focalcodec"
STAGES = {1: "stage1.yaml", 2: "stage2.yaml"}
TINY_STAGES = {1: "tiny_stage1.yaml", 2: "tiny_stage2.yaml"}


def make_brain(
    stage: int, yaml: Path, folder: str, device: str, precision: str, **run_opts: object
) -> sb.Brain:
    """The stage's Brain from its yaml, ready for ``fit_batch`` (``run_opts``:
    more of SpeechBrain's run options, e.g. ``distributed_backend``)."""
    if str(RECIPE) not in sys.path:  # train.py is the recipe's script, not a package module
        sys.path.insert(0, str(RECIPE))
    from train import BRAINS

    overrides = {
        "data_folder": folder,
        "output_folder": folder,
        "random_encoder": True,
        "precision": precision,
    }
    if stage == 2:
        overrides["adversarial_start_step"] = 0  # time full GAN steps (tiny yaml: warm-up)
    with open(yaml, encoding="utf-8") as stream:
        hparams = load_hyperpyyaml(stream, overrides)
    brain = BRAINS[stage](
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts={"device": device, "precision": precision, "noprogressbar": True, **run_opts},
        checkpointer=None,
    )
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    brain.modules.train()
    return brain


def batch_of(num: int, seconds: float) -> PaddedBatch:
    """``num`` utterances of bundled speech, ``seconds`` each."""
    sig = speech(seconds, num)
    return PaddedBatch([{"id": f"utt{i}", "sig": row} for i, row in enumerate(sig)])


def steps_per_second(brain: sb.Brain, batch: PaddedBatch, steps: int, device: str) -> float:
    """Optimizer steps per second over ``steps`` timed steps after two warm-up steps."""

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(2):
        brain.fit_batch(batch)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        loss = brain.fit_batch(batch)
    sync()
    if not torch.isfinite(torch.as_tensor(loss)).all():
        raise RuntimeError("non-finite training loss in the benchmark")
    return steps / (time.perf_counter() - start)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the benchmark and prints a markdown table."""
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--stages", nargs="+", type=int, default=[1, 2], choices=[1, 2])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    parser.add_argument(
        "--stage1-batch", nargs=2, type=float, default=[40, 6.0], metavar=("N", "SECONDS")
    )
    parser.add_argument(
        "--stage2-batch", nargs=2, type=float, default=[16, 6.0], metavar=("N", "SECONDS")
    )
    args = parser.parse_args(argv)
    setup(args)
    shapes = {1: args.stage1_batch, 2: args.stage2_batch}
    yamls = TINY_STAGES if args.tiny else STAGES
    if args.tiny:
        shapes = {1: [2, 1.0], 2: [2, 1.0]}
        args.steps = min(args.steps, 2)
    rows: List[List[str]] = []
    for stage in args.stages:
        num, seconds = int(shapes[stage][0]), shapes[stage][1]
        batch = batch_of(num, seconds)
        rates: Dict[str, float] = {}
        for precision in args.precisions:
            with tempfile.TemporaryDirectory() as folder:
                brain = make_brain(
                    stage, RECIPE / "hparams" / yamls[stage], folder, args.device, precision
                )
                rates[precision] = steps_per_second(brain, batch, args.steps, args.device)
                del brain
            if args.device.startswith("cuda"):
                peak = f"{torch.cuda.max_memory_allocated() / 2**30:.1f}"
                torch.cuda.reset_peak_memory_stats()
            else:
                peak = "n/a"
            base = rates[args.precisions[0]]
            rows.append(
                [
                    f"{stage}",
                    f"{num} x {seconds:g} s",
                    precision,
                    f"{rates[precision]:.2f}",
                    f"{rates[precision] * num * seconds / 3600:.2f}",
                    f"{rates[precision] / base:.2f}x",
                    peak,
                ]
            )
    header = [
        "stage",
        "batch",
        "precision",
        "steps / s",
        "hours of audio / s",
        f"vs {args.precisions[0]}",
        "peak GPU memory (GiB)",
    ]
    print()
    print(markdown(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
