#!/usr/bin/env python3
"""The recipe end to end on a laptop: a tiny FocalCodec trained on the bundled speech.

One command trains a tiny codec (hparams/tiny_stage*.yaml: random frozen
encoder, 1024 codes at 50 Hz) on the speech bundled in ``samples/`` through
both stages on the CPU (at the same time when there are CPUs for both),
exports it, resynthesizes a held-out utterance, scores the reconstruction
(STOI, wideband PESQ, log-mel distance) and writes a PNG comparing the input
and reconstruction spectrograms:

> python recipes/LibriTTS/focalcodec/demo.py

Outputs, in ``--output_folder`` (default ``results/focalcodec_demo``):
``stage1/`` and ``stage2/`` (the two training runs, with their
``train_log.txt``; ``stage1.out`` and ``stage2.out`` hold their output when they
run in parallel), ``codec/`` (the exported codec), ``reconstruction.wav``,
``spectrograms.png`` and ``summary.json`` (the numbers printed at the end,
``held_out_stoi`` and ``held_out_pesq`` included).

Authors
 * speechbrain-focalcodec developers 2026
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

from speechbrain_focalcodec.audio import load_audio
from speechbrain_focalcodec.evaluation.signals import mel_distance, pesq_wb, stoi
from speechbrain_focalcodec.files import atomic_write_text
from speechbrain_focalcodec.machine import available_cpus
from speechbrain_focalcodec.training.export import ExportError, export_codec
from speechbrain_focalcodec.training.resynthesize import resynthesize
from speechbrain_focalcodec.training.runner import RecipeError, set_threads
from speechbrain_focalcodec.training.train_log import read_train_log

__all__ = ["run_demo", "score_reconstruction", "summarize"]

RECIPE = Path(__file__).resolve().parent
REPOSITORY = RECIPE.parents[2]


def _command(stage: int, options: Dict[str, Any], extra: Sequence[str], threads: int) -> List[str]:
    """``train.py`` on a tiny stage yaml."""
    command = [
        sys.executable,
        str(RECIPE / "train.py"),
        str(RECIPE / f"hparams/tiny_stage{stage}.yaml"),
        f"--threads={threads}",
    ]
    for key, value in options.items():
        command += [f"--{key}", str(value)]
    return command + list(extra)


def _train(
    commands: Dict[str, List[str]], logs: Dict[str, Path], parallel: bool
) -> Dict[str, float]:
    """Runs the training commands, one after the other or at the same time (the stages
    are independent); returns their wall times (s).

    In parallel, each one's output goes to its log file (``logs``); one after the other,
    to the terminal. A failure stops the others and raises ``CalledProcessError``.
    """
    seconds: Dict[str, float] = {}
    if not parallel:
        for name, command in commands.items():
            print("\n$ " + " ".join(command), flush=True)
            start = time.monotonic()
            subprocess.run(command, check=True)
            seconds[name] = time.monotonic() - start
        return seconds
    start, processes = time.monotonic(), {}
    for name, command in commands.items():
        print(f"\n$ {' '.join(command)} > {logs[name]} 2>&1", flush=True)
        with open(logs[name], "w", encoding="utf-8") as log:
            processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    print("training the stages in parallel; follow them with tail -f on the logs", flush=True)
    try:
        while len(seconds) < len(processes):
            for name, process in processes.items():
                if name in seconds or process.poll() is None:
                    continue
                seconds[name] = time.monotonic() - start
                if process.returncode != 0:
                    tail = logs[name].read_text(encoding="utf-8", errors="replace")[-3000:]
                    print(f"{name} failed; the end of {logs[name]}:\n{tail}", file=sys.stderr)
                    raise subprocess.CalledProcessError(process.returncode, commands[name])
                print(f"{name} done in {seconds[name]:.0f} s", flush=True)
            time.sleep(0.5)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
                process.wait()
    return seconds


def score_reconstruction(ref_path: Path, rec_path: Path, sample_rate: int) -> Dict[str, float]:
    """STOI, wideband PESQ and log-mel distance of a reconstruction against its input.

    Arguments
    ---------
    ref_path : Path
        The input audio file.
    rec_path : Path
        The reconstruction.
    sample_rate : int
        Rate both are compared at.

    Returns
    -------
    scores : dict
        ``stoi`` (0 to 1), ``pesq`` (wideband MOS-LQO, about 1 to 4.64), ``mel_distance``
        (lower is better).
    """
    ref = load_audio(ref_path, sample_rate)
    rec = load_audio(rec_path, sample_rate)
    return {
        "stoi": stoi(ref, rec, sample_rate),
        "pesq": pesq_wb(ref, rec, sample_rate),
        "mel_distance": mel_distance(ref, rec, sample_rate),
    }


def summarize(stage1_log: Path, stage2_log: Path) -> Dict[str, Any]:
    """First-vs-last-epoch numbers of the two training runs.

    Arguments
    ---------
    stage1_log : Path
        ``train_log.txt`` of stage 1.
    stage2_log : Path
        ``train_log.txt`` of stage 2.

    Returns
    -------
    summary : dict
    """
    summary: Dict[str, Any] = {}
    for name, path, keys in (
        ("stage1", stage1_log, ("feature_mse", "code_usage", "code_entropy")),
        ("stage2", stage2_log, ("mel_l1",)),
    ):
        records = read_train_log(path)
        epochs = [r for r in records if "valid" in r]
        tests = [r for r in records if "test" in r]
        first, last = epochs[0], epochs[-1]
        stats: Dict[str, Any] = {"epochs": len(epochs), "steps": int(last["meta"]["steps"])}
        for key in keys:
            for split in ("train", "valid"):
                if key in first[split]:
                    stats[f"{split}_{key}"] = [first[split][key], last[split][key]]
            if tests and key in tests[-1]["test"]:
                stats[f"test_{key}"] = tests[-1]["test"][key]
        summary[name] = stats
    return summary


def _print_summary(summary: Dict[str, Any]) -> None:
    rows: List[str] = ["| quantity | first epoch | last epoch |", "| --- | --- | --- |"]
    for stage in ("stage1", "stage2"):
        for key, value in summary[stage].items():
            if isinstance(value, list):
                rows.append(f"| {stage} {key} | {value[0]:.4g} | {value[1]:.4g} |")
    print("\n".join(rows))
    s1, s2 = summary["stage1"], summary["stage2"]
    print(
        f"held-out utterance {summary['held_out']}: test feature MSE {s1['test_feature_mse']:.4g}, "
        f"code usage {s1['test_code_usage']:.1f}%, test mel L1 {s2['test_mel_l1']:.4g}"
    )
    print(
        f"held-out reconstruction ({summary['held_out_tokens']} tokens): "
        f"STOI {summary['held_out_stoi']:.3f}, PESQ {summary['held_out_pesq']:.2f}, "
        f"log-mel distance {summary['held_out_mel_distance']:.3f}"
    )
    how = "in parallel" if summary["parallel"] else "in turn"
    print(
        f"wall time: stage 1 {summary['stage1_seconds']:.0f} s, stage 2 "
        f"{summary['stage2_seconds']:.0f} s ({how}), total {summary['total_seconds']:.0f} s"
    )


def run_demo(
    output_folder: Path,
    data_folder: Path,
    stage1_args: Sequence[str] = (),
    stage2_args: Sequence[str] = (),
    device: str = "cpu",
    threads: int = 1,
    parallel: bool = False,
) -> Dict[str, Any]:
    """Trains both stages, exports the codec, resynthesizes a held-out utterance.

    Arguments
    ---------
    output_folder : Path
        Where everything goes.
    data_folder : Path
        Folder of audio files to train on.
    stage1_args : sequence of str
        Extra command-line arguments of stage 1 (e.g. ``--number_of_epochs 2``).
    stage2_args : sequence of str
        Extra command-line arguments of stage 2.
    device : str
        Training device (``cpu``, ``cuda:0``...).
    threads : int
        CPU threads of each training process.
    parallel : bool
        Train the two stages at the same time (their outputs go to
        ``stage1.out`` / ``stage2.out``).

    Returns
    -------
    summary : dict
        Also written to ``summary.json``.
    """
    start = time.monotonic()
    output_folder = output_folder.resolve()
    common = {
        "data_folder": data_folder.resolve(),
        "encoder_folder": output_folder / "encoder",
        "device": device,
    }
    commands = {
        f"stage{stage}": _command(
            stage, {**common, "output_folder": output_folder / f"stage{stage}"}, args, threads
        )
        for stage, args in ((1, stage1_args), (2, stage2_args))
    }
    logs = {name: output_folder / f"{name}.out" for name in commands}
    output_folder.mkdir(parents=True, exist_ok=True)
    seconds = _train(commands, logs, parallel)
    export_codec(output_folder / "stage1", output_folder / "stage2", output_folder / "codec")
    test_set = json.loads((output_folder / "stage1" / "test.json").read_text())
    held_out, entry = next(iter(test_set.items()))
    audio = entry["wav"].replace("{data_root}", str(data_folder.resolve()))
    info = resynthesize(
        output_folder / "codec",
        audio,
        output_folder / "reconstruction.wav",
        output_folder / "spectrograms.png",
    )
    scores = score_reconstruction(
        Path(audio), output_folder / "reconstruction.wav", info["sample_rate"]
    )
    summary = summarize(
        output_folder / "stage1" / "train_log.txt", output_folder / "stage2" / "train_log.txt"
    )
    summary.update(
        held_out=held_out,
        held_out_tokens=info["num_tokens"],
        **{f"held_out_{name}": value for name, value in scores.items()},
        stage1_seconds=seconds["stage1"],
        stage2_seconds=seconds["stage2"],
        parallel=parallel,
        total_seconds=time.monotonic() - start,
    )
    atomic_write_text(output_folder / "summary.json", json.dumps(summary, indent=2))
    return summary


def main(argv: Sequence[str]) -> int:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_folder", default="results/focalcodec_demo")
    parser.add_argument(
        "--data_folder", default=str(REPOSITORY / "samples"), help="folder of audio files"
    )
    parser.add_argument("--stage1_args", default="", help="extra arguments of stage 1")
    parser.add_argument("--stage2_args", default="", help="extra arguments of stage 2")
    parser.add_argument("--device", default="cpu", help="training device")
    parser.add_argument(
        "--parallel",
        choices=("auto", "yes", "no"),
        default="auto",
        help="train the two stages at the same time (auto: when there are CPUs for both)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads per training process (1: the model is tiny, and multi-threaded "
        "PyTorch slows down badly on a CPU that other programs keep busy)",
    )
    args = parser.parse_args(argv)
    parallel = args.parallel == "yes" or (
        args.parallel == "auto" and available_cpus() >= 2 * args.threads
    )
    try:
        set_threads(args.threads)  # the resynthesis, in this process
        summary = run_demo(
            Path(args.output_folder),
            Path(args.data_folder),
            args.stage1_args.split(),
            args.stage2_args.split(),
            args.device,
            args.threads,
            parallel,
        )
    except subprocess.CalledProcessError as error:
        print(f"error: training failed (exit status {error.returncode})", file=sys.stderr)
        return 1
    except (RecipeError, ExportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print()
    _print_summary(summary)
    folder = Path(args.output_folder)
    print(f"wrote {folder / 'reconstruction.wav'} and {folder / 'spectrograms.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
