"""Codec evaluation the way the FocalCodec paper does it, in one command.

Every utterance of a folder or manifest is encoded to tokens and decoded back;
reconstructions are compared with their references at 16 kHz:

* model-based (downloaded or cached models, switched off with one logged line
  when unavailable): UTMOS, dWER (Whisper-small), speaker similarity
  (WavLM-base-sv), DNSMOS (ONNX model of the ``speechmos`` package);
* download-free: STOI, wideband PESQ, mel distance, SI-SDR;
* over the whole set: code usage (%), normalized code entropy, bitrate.

Outputs, under ``--output``: ``<model>/utterances.csv`` (one row per
utterance), ``<model>/spectrograms/<id>.png``, ``results.md`` (a table like
the paper's Table 1, with a reference row) and ``results.json``.

Example::

    python -m speechbrain_focalcodec.evaluation.evaluate samples/librispeech-dev-clean \\
        --model lucadellalib/focalcodec_50hz --model lucadellalib/focalcodec_25hz

Authors
 * speechbrain-focalcodec developers 2026
"""

import argparse
import csv
import json
import logging
import math
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from tqdm import tqdm

from speechbrain_focalcodec.audio import AudioError, load_audio, resample
from speechbrain_focalcodec.codec import FocalCodec
from speechbrain_focalcodec.command_line import (
    CommandError,
    add_common_options,
    add_option,
    non_negative_int,
    parse,
    positive_int,
    run_command,
    usage_status,
)
from speechbrain_focalcodec.evaluation.codes import code_counts, code_entropy, code_usage
from speechbrain_focalcodec.evaluation.manifest import read_utterances
from speechbrain_focalcodec.evaluation.models import UTMOS, load_metrics
from speechbrain_focalcodec.evaluation.signals import mel_distance, pesq_wb, si_sdr, stoi
from speechbrain_focalcodec.evaluation.spectrograms import save_spectrogram_comparison
from speechbrain_focalcodec.files import atomic_open, atomic_write_text, make_folder

__all__ = ["EvaluationError", "evaluate", "main", "markdown_table"]

logger = logging.getLogger(__name__)

RATE = 16000
# Shorter utterances are skipped: spectrogram metrics need several FFT windows.
MIN_SECONDS = 0.1
MODEL_METRICS = ("utmos", "dwer", "speaker_similarity", "dnsmos")
SIGNAL_METRICS = {
    "stoi": lambda ref, hyp: stoi(ref, hyp, RATE),
    "pesq": lambda ref, hyp: pesq_wb(ref, hyp, RATE),
    "mel_distance": lambda ref, hyp: mel_distance(ref, hyp, RATE),
    "si_sdr": si_sdr,
}
ALL_METRICS = MODEL_METRICS + tuple(SIGNAL_METRICS)
# Column title, summary key, decimals; arrows tell which way is better.
TABLE_COLUMNS = [
    ("UTMOS ↑", "utmos", 2),
    ("dWER ↓", "dwer", 2),
    ("Sim ↑", "speaker_similarity", 1),
    ("DNSMOS ↑", "dnsmos", 2),
    ("STOI ↑", "stoi", 3),
    ("PESQ ↑", "pesq", 2),
    ("Mel dist ↓", "mel_distance", 3),
    ("SI-SDR ↑", "si_sdr", 1),
    ("Code usage (%)", "code_usage", 1),
    ("Code entropy", "code_entropy", 3),
]


class EvaluationError(RuntimeError):
    """The evaluation cannot run (no model, no utterances, bad options)."""


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


@torch.no_grad()
def evaluate(
    codec: FocalCodec,
    utterances: List[Tuple[str, Path]],
    output_dir: Path,
    metrics: Dict[str, Any],
    signal_metrics: Sequence[str] = tuple(SIGNAL_METRICS),
    num_spectrograms: int = 3,
    progress: bool = True,
    name: str = "codec",
    reference: Optional[Dict[str, Dict[str, float]]] = None,
) -> Dict[str, Any]:
    """Evaluates one codec on a list of utterances.

    Arguments
    ---------
    codec : FocalCodec
        The codec, in eval mode, on the device to use.
    utterances : list of (str, Path)
        Utterance ids and audio files (see ``read_utterances``).
    output_dir : Path
        Where ``utterances.csv`` and ``spectrograms/`` are written.
    metrics : dict
        Model-based metrics from ``load_metrics(..., sample_rate=16000)``;
        their accumulated scores are cleared first.
    signal_metrics : sequence of str
        Download-free metrics to compute, among ``stoi``, ``pesq``,
        ``mel_distance``, ``si_sdr``.
    num_spectrograms : int
        Spectrogram PNGs to write (for the first utterances).
    progress : bool
        Show a progress bar.
    name : str
        Model name in the progress bar and the summary.
    reference : dict, optional
        Filled with the UTMOS and DNSMOS of each reference (id -> scores)
        when given and those metrics are available.

    Returns
    -------
    summary : dict
        Averages over the utterances (corpus dWER), code usage and entropy,
        bitrate, token rate, codebook size, counts of evaluated and skipped
        utterances.
    """
    make_folder(output_dir)
    for metric in metrics.values():
        metric.clear()
    device = next(codec.parameters()).device
    counts = torch.zeros(codec.codebook_size, dtype=torch.long)
    rows: List[Dict[str, Any]] = []
    skipped: List[str] = []
    reference_utmos = None
    if reference is not None and "utmos" in metrics:
        reference_utmos = UTMOS(RATE, model=metrics["utmos"].model)
    bar = tqdm(utterances, desc=name, unit="utt", disable=not progress, dynamic_ncols=True)
    for utt_id, path in bar:
        try:
            sig = load_audio(path, codec.sample_rate_input)
        except AudioError as error:
            logger.warning("Skipping %s: %s", utt_id, error)
            skipped.append(utt_id)
            continue
        if sig.shape[0] < MIN_SECONDS * codec.sample_rate_input:
            seconds = sig.shape[0] / codec.sample_rate_input
            logger.warning(
                "Skipping %s: %.3f s, shorter than the %g s the metrics need",
                utt_id,
                seconds,
                MIN_SECONDS,
            )
            skipped.append(utt_id)
            continue
        toks = codec.sig_to_toks(sig[None].to(device))
        rec = codec.toks_to_sig(toks)[
            0, : round(sig.shape[0] * codec.sample_rate_output / codec.sample_rate_input)
        ]
        counts += code_counts(toks.cpu(), codec.codebook_size)
        ref = resample(sig, codec.sample_rate_input, RATE)
        hyp = resample(rec.float().cpu(), codec.sample_rate_output, RATE)
        hyp = torch.nn.functional.pad(hyp, [0, max(0, ref.shape[0] - hyp.shape[0])])
        row: Dict[str, Any] = {"id": utt_id, "duration_s": ref.shape[0] / RATE}
        row["num_tokens"] = toks.shape[1]
        for metric_name in signal_metrics:
            row[metric_name] = SIGNAL_METRICS[metric_name](ref, hyp)
        ref_batch, hyp_batch = ref[None].to(device), hyp[None].to(device)
        for metric_name, metric in metrics.items():
            if metric_name in ("utmos", "dnsmos"):
                metric.append([utt_id], hyp_batch)
            else:
                metric.append([utt_id], hyp_batch, ref_batch)
            row[metric_name] = metric.scores[-1]
        if reference is not None and utt_id not in reference:
            scores = {}
            if reference_utmos is not None:
                reference_utmos.append([utt_id], ref_batch)
                scores["utmos"] = reference_utmos.scores[-1]
            if "dnsmos" in metrics:
                scores["dnsmos"] = metrics["dnsmos"].score(ref)[2]
            reference[utt_id] = scores
        if len(rows) < num_spectrograms:
            title = f"{name}: {utt_id}"
            save_spectrogram_comparison(
                ref, hyp, RATE, output_dir / "spectrograms" / f"{utt_id}.png", title
            )
        rows.append(row)
    bar.close()
    if not rows:
        raise EvaluationError(f"{name}: no utterance could be read")
    columns = list(rows[0])
    with atomic_open(output_dir / "utterances.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    summary: Dict[str, Any] = {
        "model": name,
        "bitrate_kbps": codec.bitrate / 1000.0,
        "token_rate_hz": codec.token_rate,
        "codebook_size": codec.codebook_size,
        "sample_rate_output": codec.sample_rate_output,
        "num_utterances": len(rows),
        "num_skipped": len(skipped),
        "hours": sum(row["duration_s"] for row in rows) / 3600.0,
        "code_usage": code_usage(counts),
        "code_entropy": code_entropy(counts),
    }
    for metric_name in list(signal_metrics) + list(metrics):
        summary[metric_name] = _mean([row[metric_name] for row in rows])
    if "dwer" in metrics:
        summary["dwer"] = metrics["dwer"].summarize("error_rate")
    return summary


def _cell(value: Any, decimals: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{decimals}f}"


def markdown_table(summaries: List[Dict[str, Any]], reference: Optional[Dict] = None) -> str:
    """A results table like the paper's Table 1 (one row per model).

    Arguments
    ---------
    summaries : list of dict
        Outputs of ``evaluate``.
    reference : dict, optional
        Averages for the references (a "Reference" row: dWER 0, Sim 100).

    Returns
    -------
    table : str
        Markdown; "n/a" where a metric was not computed.

    Example
    -------
    >>> summary = {"model": "m", "bitrate_kbps": 0.65, "token_rate_hz": 50.0,
    ...     "codebook_size": 8192, "stoi": 0.9}
    >>> print(markdown_table([summary]).splitlines()[2])
    | m | 0.65 | 50 | 8192 | n/a | n/a | n/a | n/a | 0.900 | n/a | n/a | n/a | n/a | n/a |
    """
    header = ["Model", "Bitrate (kbps)", "Token rate (Hz)", "Codebook"]
    header += [title for title, _, _ in TABLE_COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    if reference:
        cells = ["Reference", "-", "-", "-"]
        for _, key, decimals in TABLE_COLUMNS:
            cells.append(_cell(reference.get(key), decimals) if key in reference else "-")
        lines.append("| " + " | ".join(cells) + " |")
    for summary in summaries:
        cells = [
            str(summary["model"]),
            f"{summary['bitrate_kbps']:.2f}",
            f"{summary['token_rate_hz']:g}",
            str(summary["codebook_size"]),
        ]
        cells += [_cell(summary.get(key), decimals) for _, key, decimals in TABLE_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Evaluate FocalCodec models on a folder or manifest of speech "
        "(UTMOS, dWER, speaker similarity, DNSMOS, STOI, PESQ, mel distance, SI-SDR, "
        "code usage and entropy).",
    )
    parser.add_argument("source", help="folder of audio files, or a .csv/.json/.txt manifest")
    add_common_options(parser, model="append")
    parser.add_argument("--output", default="evaluation", help="output folder")
    parser.add_argument(
        "--metrics",
        nargs="+",
        default=list(ALL_METRICS),
        choices=ALL_METRICS,
        metavar="METRIC",
        help=f"metrics to compute (default: all of {', '.join(ALL_METRICS)})",
    )
    add_option(parser, "--max_utterances", type=positive_int, help="evaluate only the first N")
    add_option(
        parser,
        "--num_spectrograms",
        type=non_negative_int,
        default=3,
        help="spectrogram PNGs per model (default 3)",
    )
    return parser


def main(argv: Optional[Sequence[str]] = None, prog: str = "focalcodec-evaluate") -> int:
    """Command-line entry point (``focalcodec-evaluate``, ``focalcodec evaluate``).

    Arguments
    ---------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).
    prog : str
        Program name in messages.

    Returns
    -------
    status : int
        0 on success, 1 on an error (one line on stderr), 2 on a usage error.
    """
    parser = _parser(prog)
    status, args = usage_status(lambda: parse(parser, sys.argv[1:] if argv is None else argv))
    if args is None:
        return status
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_command(_run, args, prog)


def _run(args: argparse.Namespace) -> int:
    sources = args.model or ["lucadellalib/focalcodec_50hz"]
    output = Path(args.output)
    names = [_safe_name(Path(s).name if Path(s).exists() else s) for s in sources]
    written = [output / "results.json"] + [output / name / "utterances.csv" for name in names]
    existing = [path for path in written if path.exists()]
    if existing and not args.force:
        raise CommandError(f"{existing[0]} exists: pass --force to replace it")
    utterances = read_utterances(args.source)[: args.max_utterances]
    device = torch.device(args.device)
    model_names = [m for m in args.metrics if m in MODEL_METRICS]
    metrics = load_metrics(model_names, RATE)
    for metric in metrics.values():
        if hasattr(metric, "model"):
            metric.model.to(device)
    off = [m for m in model_names if m not in metrics]
    if off:
        print(
            f"Model-based metrics switched off (model not available): {', '.join(off)}; "
            "the other metrics still run.",
            file=sys.stderr,
        )
    summaries, reference = [], {}
    for source, name in zip(sources, names):
        try:
            codec = FocalCodec.from_pretrained(source).to(device).eval()
        except Exception as error:
            raise EvaluationError(f"Cannot load model {source}: {error}") from None
        summary = evaluate(
            codec,
            utterances,
            output / name,
            metrics,
            [m for m in args.metrics if m in SIGNAL_METRICS],
            args.num_spectrograms,
            not args.quiet,
            name,
            reference,
        )
        summary["source"] = str(source)
        summaries.append(summary)
    # By definition for the references; shown only where the metric ran.
    defaults = {"dwer": 0.0, "speaker_similarity": 100.0}
    reference_row = {key: value for key, value in defaults.items() if key in metrics}
    for key in ("utmos", "dnsmos"):
        values = [scores[key] for scores in reference.values() if key in scores]
        if values:
            reference_row[key] = _mean(values)
    table = markdown_table(summaries, reference_row)
    atomic_write_text(output / "results.md", table)
    results = {"reference": reference_row, "models": summaries, "metrics_off": off}
    atomic_write_text(output / "results.json", json.dumps(results, indent=2))
    print(table)
    print(f"Per-utterance CSVs, spectrograms and results.md are in {output}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
