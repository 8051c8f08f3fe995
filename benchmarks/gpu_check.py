"""One-command check of every path on a device (a GPU by default): the test
suite's device-parametrised tests, training steps, throughput, streaming,
peak memory.

    python -m benchmarks.gpu_check [--device cuda] [--reference /path/to/focalcodec]

In order:

1. the tests marked ``device`` (``tests/test_parity.py``: inference ==
   training forward == ``torch.compile(fullgraph=True)`` == float64, autocast,
   gradients, weight edits) run on the device (``FOCALCODEC_TEST_DEVICE``;
   compiled with inductor on GPUs);
2. a few optimizer steps of each training stage of
   ``recipes/LibriTTS/focalcodec`` in fp32 and bf16 autocast
   (``benchmarks.training_steps``), and the same in 2 processes over NCCL
   (DDP, ``torch.distributed.run``) when two GPUs exist;
3. encode/decode throughput at batch 16 (``benchmarks.throughput``; against
   the official implementation with ``--reference``);
4. streaming per chunk (``benchmarks.streaming``).

Each part prints its own table; a summary table (status, seconds, peak
memory) ends the run. The exit status is non-zero when a part failed. With
``--tiny`` (the suite's smoke test, on CPU) every part uses tiny models.

Authors
 * speechbrain-focalcodec developers 2026
"""

import argparse
import contextlib
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Callable, List, Optional, Sequence

import torch

from benchmarks import streaming, throughput, training_steps
from benchmarks.common import ROOT, base_parser, markdown, setup


def _peak_memory(device: torch.device) -> str:
    """Peak memory since the last reset, GiB: allocated on the GPU, resident on the CPU."""
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f}"
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return f"{max(kib, children) / 2**20:.2f} (process)"


def _run_part(name: str, part: Callable[[], int], device: torch.device, rows: List) -> bool:
    """Runs one part, echoes its output, appends its summary row."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    print(f"\n## {name}\n", flush=True)
    start = time.perf_counter()
    try:
        status = part()
        ok = status == 0
        result = "ok" if ok else f"failed (exit {status})"
    except Exception as error:  # noqa: BLE001 (one failed part must not hide the others)
        traceback.print_exc()
        ok, result = False, f"failed: {type(error).__name__}: {error}".splitlines()[0]
    rows.append([name, result, f"{time.perf_counter() - start:.1f}", _peak_memory(device)])
    return ok


def _subprocess(command: List[str], env: Optional[dict] = None) -> int:
    print("$ " + " ".join(shlex.quote(part) for part in command), flush=True)
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, **(env or {})})
    return result.returncode


def device_tests(device: torch.device, pytest_args: Sequence[str]) -> int:
    """The tests marked ``device``, on ``device``."""
    env = {
        "FOCALCODEC_TEST_DEVICE": str(device),
        "FOCALCODEC_TEST_COMPILE_BACKEND": "inductor" if device.type == "cuda" else "eager",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-m", "device", "tests", *pytest_args]
    return _subprocess(command, env)


def ddp_training(args) -> int:
    """Training steps in 2 processes over NCCL (this script in ``--ddp-worker`` mode)."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        "-m",
        "benchmarks.gpu_check",
        "--ddp-worker",
        "--ddp-backend",
        args.ddp_backend,
        "--device",
        args.device,
        "--threads",
        str(args.threads),
    ] + (["--tiny"] if args.tiny else [])
    return _subprocess(command)


def ddp_worker(args) -> int:
    """One rank of ``ddp_training``: each stage, fp32 then bf16, a few DDP steps."""
    import speechbrain as sb

    sb.utils.distributed.ddp_init_group({"distributed_backend": args.ddp_backend})
    rank = int(os.environ["LOCAL_RANK"])
    device = f"cuda:{rank}" if args.device.startswith("cuda") else "cpu"
    yamls = training_steps.TINY_STAGES if args.tiny else training_steps.STAGES
    batch = training_steps.batch_of(2, 1.0)
    rows = []
    try:
        for stage, yaml in yamls.items():
            for precision in ("fp32", "bf16"):
                with contextlib.ExitStack() as stack:
                    folder = stack.enter_context(_temporary_folder(rank))
                    brain = training_steps.make_brain(
                        stage,
                        training_steps.RECIPE / "hparams" / yaml,
                        folder,
                        device,
                        precision,
                        distributed_backend=args.ddp_backend,
                    )
                    rate = training_steps.steps_per_second(brain, batch, 2, device)
                    rows.append([str(stage), precision, f"{rate:.2f}"])
                    del brain
    finally:
        torch.distributed.destroy_process_group()
    if rank == 0:
        print(markdown(["stage", "precision", "DDP steps / s (2 processes)"], rows))
    return 0


@contextlib.contextmanager
def _temporary_folder(rank: int):
    with tempfile.TemporaryDirectory(prefix=f"gpu_check_rank{rank}_") as folder:
        yield folder


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs every part on the device and prints the summary table."""
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cuda or cpu"
    )
    parser.add_argument("--reference", help="checkout of the official implementation")
    parser.add_argument(
        "--pytest-args", default="", help="extra pytest arguments for the device tests"
    )
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["tests", "training", "ddp", "throughput", "streaming"],
    )
    parser.add_argument(
        "--ddp",
        choices=["auto", "on", "off"],
        default="auto",
        help="2-process training: auto = when two GPUs exist",
    )
    parser.add_argument("--ddp-backend", default="nccl", choices=["nccl", "gloo"])
    parser.add_argument("--ddp-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ddp_worker:
        return ddp_worker(args)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device here; use --device cpu")
    setup(args)
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    common = ["--threads", str(args.threads), "--repeats", str(args.repeats)]
    common += ["--tiny"] if args.tiny else []
    reference = ["--reference", args.reference] if args.reference else []
    parts = {
        "tests": ("device tests", lambda: device_tests(device, shlex.split(args.pytest_args))),
        "training": (
            "training steps, fp32 and bf16",
            lambda: training_steps.main(common + ["--device", str(device), "--steps", "3"]),
        ),
        "ddp": ("training steps, 2 processes", lambda: ddp_training(args)),
        "throughput": (
            "throughput, batch 16",
            lambda: throughput.main(common + reference + ["--device", str(device)]),
        ),
        "streaming": (
            "streaming per chunk",
            lambda: streaming.main(common + reference + ["--device", str(device)]),
        ),
    }
    two_gpus = device.type == "cuda" and torch.cuda.device_count() >= 2
    if args.ddp == "off" or (args.ddp == "auto" and not two_gpus):
        args.skip.append("ddp")
    rows: List[List[str]] = []
    ok = True
    for key, (name, part) in parts.items():
        if key in args.skip:
            rows.append([name, "skipped", "-", "-"])
            continue
        ok = _run_part(name, part, device, rows) and ok
    print(f"\n## summary ({device})\n")
    print(markdown(["check", "result", "seconds", "peak memory (GiB)"], rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
