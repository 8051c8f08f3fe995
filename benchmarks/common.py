"""Shared pieces of the benchmarks: models with random weights, bundled speech,
side-by-side timing, the official implementation, the machine's description.

Authors
 * speechbrain-focalcodec developers 2026
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from speechbrain_focalcodec.audio import load_audio
from speechbrain_focalcodec.codec import FocalCodec
from speechbrain_focalcodec.ops.capability import ONEDNN_LINEAR, onednn_wins_large_products

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "tests" / "golden" / "manifests"
GOLDEN = ROOT / "tests" / "golden"
SPEECH = sorted((ROOT / "samples" / "librispeech-dev-clean").glob("*.flac"))

# Benchmark name -> official checkpoint whose architecture is used.
VARIANTS = {
    "50hz": "focalcodec_50hz",
    "25hz": "focalcodec_25hz",
    "12_5hz": "focalcodec_12_5hz",
    "causal": "focalcodec_50hz_4k_causal",
}
SCALE_FACTORS = {"50hz": [1, 1, 1], "25hz": [2, 1, 1], "12_5hz": [2, 2, 1]}


def codec_config(variant: str, tiny: bool = False) -> Dict[str, Any]:
    """Official ``config.json`` dict of a full-size architecture, or of a tiny
    model of the same kind (for smoke tests)."""
    if variant not in VARIANTS:
        raise SystemExit(f"error: unknown variant {variant!r}; choose among {sorted(VARIANTS)}")
    if not tiny:
        return json.loads((MANIFESTS / f"{VARIANTS[variant]}.json").read_text())["config"]
    if variant == "causal":
        return json.loads((GOLDEN / "tiny_causal" / "config.json").read_text())
    config = json.loads((GOLDEN / "tiny_50hz" / "config.json").read_text())
    factors = SCALE_FACTORS[variant]
    config["compressor_config"]["downscale_factors"] = factors
    config["decompressor_config"]["upscale_factors"] = factors[::-1]
    return config


def build_codec(variant: str, tiny: bool = False, seed: int = 0) -> FocalCodec:
    """A codec of ``variant``'s architecture with random weights, in eval mode."""
    torch.manual_seed(seed)
    return FocalCodec.from_config(codec_config(variant, tiny)).eval()


def speech(seconds: float, batch_size: int = 1) -> torch.Tensor:
    """``[batch, samples]`` of bundled LibriSpeech speech at 16 kHz, repeated as
    needed; every row starts at a different utterance."""
    pool = torch.cat([load_audio(path, 16000) for path in SPEECH])
    samples = int(seconds * 16000)
    rows = []
    for row in range(batch_size):
        start = (row * pool.shape[0]) // max(batch_size, 1)
        needed = torch.cat([pool[start:]] + [pool] * (1 + samples // pool.shape[0]))
        rows.append(needed[:samples])
    return torch.stack(rows)


def measure(functions: Dict[str, Callable[[], Any]], repeats: int = 5) -> Dict[str, float]:
    """Best wall time (s) of each function, run interleaved (round robin) after
    one warm-up call each, so that load changes affect all of them alike."""
    times: Dict[str, List[float]] = {name: [] for name in functions}
    with torch.inference_mode():
        for function in functions.values():
            function()
        for _ in range(repeats):
            for name, function in functions.items():
                start = time.perf_counter()
                function()
                times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def utterance_agreement(
    models: Dict[str, Any], baseline: str, tiny: bool = False, device: str = "cpu"
) -> Tuple[Dict[str, float], int]:
    """Percentage of each model's tokens equal to ``baseline``'s over the bundled
    LibriSpeech utterances (3 with ``tiny``), each encoded alone; and the
    number of tokens compared."""
    paths = SPEECH[: 3 if tiny else None]
    utterances = [load_audio(path, 16000)[None].to(device) for path in paths]
    with torch.inference_mode():
        expected = [models[baseline].sig_to_toks(utt) for utt in utterances]
        total = sum(toks.numel() for toks in expected)
        agreement = {
            name: 100.0
            * sum(
                (model.sig_to_toks(utt) == toks).sum().item()
                for utt, toks in zip(utterances, expected)
            )
            / total
            for name, model in models.items()
        }
    return agreement, total


def load_reference(path: Optional[str]) -> Any:
    """The official ``focalcodec`` module from a checkout, or None."""
    if not path:
        return None
    checkout = Path(path).expanduser().resolve()
    if not (checkout / "focalcodec" / "__init__.py").is_file():
        raise SystemExit(f"error: {checkout} is not a checkout of the official focalcodec")
    sys.path.insert(0, str(checkout))
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    import focalcodec

    return focalcodec


def reference_twin(reference: Any, codec: FocalCodec) -> torch.nn.Module:
    """The official model with exactly ``codec``'s weights (through its own loader)."""
    with tempfile.TemporaryDirectory() as directory:
        codec.save_pretrained(directory)
        shutil.copy(Path(directory) / "config.json", Path(directory) / "model.json")
        model = reference.FocalCodec.from_config(str(Path(directory) / "model.json"), True)
    return model.eval()


def machine() -> Dict[str, Any]:
    """CPU model, family / model numbers, relevant instruction sets, threads,
    load and versions."""
    info: Dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        lscpu = ""
    fields = {
        k.strip(): v.strip()
        for k, v in (line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    }
    info["cpu"] = fields.get("Model name", platform.processor() or "unknown")
    info["family_model"] = (
        f"family {fields.get('CPU family', '?')} model {fields.get('Model', '?')}"
    )
    info["cpus"] = os.cpu_count()
    flags = fields.get("Flags", "").split()
    info["isa"] = [
        flag
        for flag in flags
        if flag == "avx2" or flag.startswith(("avx512", "amx")) or "vnni" in flag
    ]
    info["threads"] = torch.get_num_threads()
    info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    # What ``ops/linear.py`` measured for the long float32 products on this CPU.
    info["long_products"] = "oneDNN" if onednn_wins_large_products() else "F.linear (MKL)"
    return info


def describe_machine() -> str:
    """One line describing the machine (for the benchmark outputs)."""
    info = machine()
    gpu = info["cuda"] or "none (GPU throughput not measured)"
    return (
        f"CPU: {info['cpu']}, {info['family_model']} ({info['cpus']} cores; "
        f"{' '.join(info['isa'])}), torch {info['torch']} with {info['threads']} threads, "
        f"long float32 products on {info['long_products']}, "
        f"GPU: {gpu}, load average {info['load_average']}"
    )


def matmul_peaks(size: int, repeats: int) -> Dict[str, float]:
    """Best GFLOP/s of ``size``-cubed matrix products on this machine, per path:
    float32 through oneDNN's linear primitive and through ``torch.mm`` (MKL), and
    bfloat16 (oneDNN where the CPU has a bfloat16 primitive, else ``F.linear``).
    ``fp32_peak`` is the better float32 path: the machine's float32 peak."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a16, b16 = a.bfloat16(), b.bfloat16()
    onednn = torch.ops.mkldnn._linear_pointwise
    paths = {"float32, torch.mm (MKL)": partial(torch.mm, a, b)}
    if torch.float32 in ONEDNN_LINEAR:
        paths["float32, oneDNN"] = partial(onednn, a, b, None, "none", [], "")
    if torch.bfloat16 in ONEDNN_LINEAR:
        paths["bfloat16, oneDNN"] = partial(onednn, a16, b16, None, "none", [], "")
    else:
        paths["bfloat16, F.linear"] = partial(torch.nn.functional.linear, a16, b16)
    with torch.inference_mode():
        times = measure(paths, repeats)
    return {name: 2 * size**3 / seconds / 1e9 for name, seconds in times.items()}


def fp32_peak(peaks: Dict[str, float]) -> float:
    """The machine's float32 peak: the best float32 path of ``matmul_peaks``."""
    return max(rate for name, rate in peaks.items() if name.startswith("float32"))


def describe_peaks(peaks: Dict[str, float]) -> str:
    """One line with the measured matrix-product peaks (for the benchmark outputs)."""
    return "Measured peak: " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items())


def markdown(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def base_parser(description: str) -> argparse.ArgumentParser:
    """Options shared by the benchmarks."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement")
    parser.add_argument(
        "--tiny", action="store_true", help="tiny models and short inputs (smoke test)"
    )
    return parser


def setup(args: argparse.Namespace) -> Dict[str, float]:
    """Applies the shared options, prints the machine and its measured
    matrix-product peaks (``matmul_peaks``), and returns the peaks."""
    if args.threads < 1 or args.repeats < 1:
        raise SystemExit("error: --threads and --repeats must be at least 1")
    torch.set_num_threads(args.threads)
    print(describe_machine())
    peaks = matmul_peaks(256 if args.tiny else 2048, args.repeats)
    print(describe_peaks(peaks), flush=True)
    return peaks
