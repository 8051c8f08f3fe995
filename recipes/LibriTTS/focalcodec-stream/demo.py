#!/usr/bin/env python3
"""The FocalCodec-Stream recipe end to end on a laptop: a tiny causal codec from the bundled speech.

One command trains a tiny causal codec (``hparams/tiny_<stage>.yaml``: random
frozen full-context teacher, 4096 codes at 50 Hz, 80 ms latency) through the
five stages on the speech bundled in ``samples/`` on the CPU, exports it,
streams a held-out utterance chunk by chunk through the codec's stream
objects and plots the input and streamed spectrograms:

> python recipes/LibriTTS/focalcodec-stream/demo.py

Outputs, in ``--output_folder`` (default ``results/focalcodec_stream_demo``):
``wavenext/``, ``posemb/``, ``wavlm/``, ``bsq/`` and ``joint/`` (the training
runs, with their ``train_log.txt``), ``codec/`` (the exported codec),
``reconstruction.wav`` (the streamed held-out utterance, 24 kHz),
``spectrograms.png`` and ``summary.json`` (per stage: its validation metric at
the first and last epoch and its wall time; the streaming check; with
``--reference`` or ``FOCALCODEC_REFERENCE``, the comparison with the official
implementation).

Authors
 * speechbrain-focalcodec developers 2026
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.audio import load_audio
from speechbrain_focalcodec.audio_files import write_audio_file
from speechbrain_focalcodec.files import atomic_write_text
from speechbrain_focalcodec.training.resynthesize import plot_spectrograms
from speechbrain_focalcodec.training.stream_check import (
    compare_stream_offline,
    compare_with_official,
    stream_utterance,
)
from speechbrain_focalcodec.training.train_log import read_train_log

__all__ = ["STAGES", "run_demo", "stage_summary"]

RECIPE = Path(__file__).resolve().parent
REPOSITORY = RECIPE.parents[2]
# Stage -> (validation metric, lower is better; earlier stages it needs).
STAGES = {
    "wavenext": ("mel_l1", {}),
    "posemb": ("posemb_mse", {}),
    "wavlm": ("layer_mse", {"posemb_folder": "posemb"}),
    "bsq": ("feature_mse", {"wavlm_folder": "wavlm"}),
    "joint": (
        "feature_mse",
        {"wavlm_folder": "wavlm", "bsq_folder": "bsq", "wavenext_folder": "wavenext"},
    ),
}


def _train(stage: str, options: Dict[str, Any], extra: Sequence[str], threads: int) -> float:
    """Runs ``train.py`` on a tiny stage yaml; returns its wall time (s)."""
    command = [sys.executable, str(RECIPE / "train.py"), str(RECIPE / f"hparams/tiny_{stage}.yaml")]
    for key, value in options.items():
        command += [f"--{key}", str(value)]
    command += list(extra)
    print("\n$ " + " ".join(command), flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    start = time.monotonic()
    subprocess.run(command, check=True, env=env)
    return time.monotonic() - start


def stage_summary(name: str, log: Path, seconds: float) -> Dict[str, Any]:
    """First-vs-last-epoch validation metric of one stage.

    Arguments
    ---------
    name : str
        The stage.
    log : Path
        Its ``train_log.txt``.
    seconds : float
        Its wall time.

    Returns
    -------
    summary : dict
        ``name``, ``metric``, ``first``, ``last``, ``test``, ``epochs``,
        ``steps`` and ``seconds``.
    """
    metric = STAGES[name][0]
    records = read_train_log(log)
    epochs = [r for r in records if "valid" in r]
    tests = [r for r in records if "test" in r]
    return {
        "name": name,
        "metric": metric,
        "first": epochs[0]["valid"][metric],
        "last": epochs[-1]["valid"][metric],
        "test": tests[-1]["test"][metric] if tests else None,
        "epochs": len(epochs),
        "steps": int(epochs[-1]["meta"]["steps"]),
        "seconds": round(seconds, 1),
    }


def run_demo(
    output_folder: Path,
    data_folder: Path,
    stage_args: Optional[Dict[str, Sequence[str]]] = None,
    device: str = "cpu",
    threads: int = 1,
    reference: Optional[str] = None,
) -> Dict[str, Any]:
    """Trains the five stages, exports the codec, streams a held-out utterance.

    Arguments
    ---------
    output_folder : Path
        Where everything goes.
    data_folder : Path
        Folder of audio files to train on.
    stage_args : dict, optional
        Stage -> extra command-line arguments (e.g. ``["--number_of_epochs", "2"]``).
    device : str
        Training device (``cpu``, ``cuda:0``...).
    threads : int
        CPU threads of each training process.
    reference : str, optional
        Checkout of the official ``focalcodec`` package: the exported codec is
        also run by it.

    Returns
    -------
    summary : dict
        Also written to ``summary.json``.
    """
    start = time.monotonic()
    output_folder = output_folder.resolve()
    stage_args = stage_args or {}
    common = {
        "data_folder": data_folder.resolve(),
        "encoder_folder": output_folder / "encoder",
        "device": device,
    }
    stages: List[Dict[str, Any]] = []
    for name, (_, needs) in STAGES.items():
        options = {**common, "output_folder": output_folder / name}
        if name == "bsq":
            del options["encoder_folder"]  # its teacher is stage wavlm's
        options.update({key: output_folder / stage for key, stage in needs.items()})
        if name == "joint":
            options["export_folder"] = output_folder / "codec"
        seconds = _train(name, options, stage_args.get(name, ()), threads)
        stages.append(stage_summary(name, output_folder / name / "train_log.txt", seconds))

    test_set = json.loads((output_folder / "joint" / "test.json").read_text())
    held_out, entry = next(iter(test_set.items()))
    audio = entry["wav"].replace("{data_root}", str(data_folder.resolve()))
    codec = FocalCodec.from_pretrained(output_folder / "codec")
    sig = load_audio(audio, codec.sample_rate_input)[None]
    toks, rec = stream_utterance(codec, sig)
    write_audio_file(output_folder / "reconstruction.wav", rec[0], codec.sample_rate_output)
    plot_spectrograms(
        sig[0],
        codec.sample_rate_input,
        rec[0],
        codec.sample_rate_output,
        output_folder / "spectrograms.png",
        title=f"{held_out}: streamed through the tiny causal codec",
    )
    summary: Dict[str, Any] = {
        "stages": stages,
        "held_out": held_out,
        "held_out_tokens": int(toks.shape[1]),
        "stream_vs_offline": compare_stream_offline(codec, sig),
        "codec": {
            "token_rate": codec.token_rate,
            "codebook_size": codec.codebook_size,
            "bitrate": codec.bitrate,
            "latency_ms": codec.latency,
        },
    }
    if reference:
        summary["official"] = compare_with_official(output_folder / "codec", reference, [sig])
    summary["total_seconds"] = round(time.monotonic() - start, 1)
    atomic_write_text(output_folder / "summary.json", json.dumps(summary, indent=2))
    return summary


def _print_summary(summary: Dict[str, Any]) -> None:
    rows = ["| stage | validation metric | first epoch | last epoch | wall time |"]
    rows.append("| --- | --- | --- | --- | --- |")
    for stage in summary["stages"]:
        rows.append(
            f"| {stage['name']} | {stage['metric']} | {stage['first']:.4g} | "
            f"{stage['last']:.4g} | {stage['seconds']:.0f} s |"
        )
    print("\n".join(rows))
    check = summary["stream_vs_offline"]
    print(
        f"held-out utterance {summary['held_out']} streamed chunk by chunk: "
        f"{100 * check['tokens_equal']:.1f}% of {check['tokens']} tokens equal to offline, "
        f"decoded signals within {check['max_abs_diff']:.2g}"
    )
    if "official" in summary:
        official = summary["official"]
        print(
            f"official implementation: {100 * official['tokens_equal']:.1f}% of "
            f"{official['tokens']} tokens equal, decoded signals within "
            f"{official['max_abs_diff']:.2g}"
        )
    print(f"total wall time {summary['total_seconds']:.0f} s")


def main(argv: Sequence[str]) -> int:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_folder", default="results/focalcodec_stream_demo")
    parser.add_argument(
        "--data_folder", default=str(REPOSITORY / "samples"), help="folder of audio files"
    )
    for name in STAGES:
        parser.add_argument(f"--{name}_args", default="", help=f"extra arguments of stage {name}")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="CI schedule: SpeechBrain's debug mode in every stage (2 epochs of 2 batches)",
    )
    parser.add_argument("--device", default="cpu", help="training device")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads per training process (1: the models are tiny, and multi-threaded "
        "PyTorch slows down badly on a CPU that other programs keep busy)",
    )
    parser.add_argument(
        "--reference",
        default=os.environ.get("FOCALCODEC_REFERENCE"),
        help="checkout of the official focalcodec package: run the exported codec with it too "
        "(default: $FOCALCODEC_REFERENCE)",
    )
    args = parser.parse_args(argv)
    quick = ["--debug", "--debug_persistently"] if args.quick else []
    stage_args = {name: quick + getattr(args, f"{name}_args").split() for name in STAGES}
    try:
        summary = run_demo(
            Path(args.output_folder),
            Path(args.data_folder),
            stage_args,
            args.device,
            args.threads,
            args.reference,
        )
    except subprocess.CalledProcessError as error:
        print(f"error: training failed (exit status {error.returncode})", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print()
    _print_summary(summary)
    folder = Path(args.output_folder)
    print(f"wrote {folder / 'reconstruction.wav'} and {folder / 'spectrograms.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
