"""Long audio: time and peak memory of ``focalcodec encode`` / ``decode`` on up
to an hour of speech, and the effect of segmenting on the tokens of the
offline models.

Usage (from the repository root)::

    python benchmarks/long_audio.py --minutes 5 15 30 60
    python benchmarks/long_audio.py --minutes 1 3 --full-size   # 142M-parameter 50 Hz
    python benchmarks/long_audio.py --minutes 1 2 3 --whole --models tiny_50hz
    python benchmarks/long_audio.py --tokens-only

Every measurement runs in a fresh process (``focalcodec`` through
``speechbrain_focalcodec.cli.main``) that reports its own peak resident
memory and CPU time (less sensitive than wall time to other processes on
the machine). The test audio tiles the bundled LibriSpeech utterances. Without
downloadable checkpoints the models have random weights (the tiny golden
models, or the official 50 Hz architecture with ``--full-size``): time and
memory are those of real models of that size, token statistics are not.

Authors
 * speechbrain-focalcodec developers 2026
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from speechbrain_focalcodec.audio import load_audio  # noqa: E402
from speechbrain_focalcodec.audio_files import AudioFileWriter  # noqa: E402
from speechbrain_focalcodec.codec import FocalCodec  # noqa: E402
from speechbrain_focalcodec.long_audio import decode_long, encode_long  # noqa: E402

SPEECH = sorted((ROOT / "samples" / "librispeech-dev-clean").glob("*.flac"))
RUNNER = (
    "import resource, sys; from speechbrain_focalcodec.cli import main; "
    "status = main(sys.argv[1:]); usage = resource.getrusage(resource.RUSAGE_SELF); "
    "print('CPU', usage.ru_utime + usage.ru_stime, 'MAXRSS', usage.ru_maxrss); sys.exit(status)"
)
# Whole-utterance encoding, the official way, for comparison.
WHOLE = (
    "import resource, sys, torch; from speechbrain_focalcodec import FocalCodec; "
    "from speechbrain_focalcodec.audio import load_audio; torch.set_num_threads(int(sys.argv[3])); "
    "codec = FocalCodec.from_pretrained(sys.argv[1]); sig = load_audio(sys.argv[2], 16000); "
    "torch.set_grad_enabled(False); codec.max_whole_seconds = None; codec.sig_to_toks(sig[None]); "
    "usage = resource.getrusage(resource.RUSAGE_SELF); "
    "print('CPU', usage.ru_utime + usage.ru_stime, 'MAXRSS', usage.ru_maxrss)"
)


def make_audio(path: Path, minutes: float) -> None:
    """Writes ``minutes`` of 16 kHz speech tiling the bundled utterances."""
    speech = [load_audio(p, 16000) for p in SPEECH]
    total, index = int(minutes * 60 * 16000), 0
    with AudioFileWriter(path, 16000) as writer:
        while writer.num_samples < total:
            piece = speech[index % len(speech)]
            writer.write(piece[: total - writer.num_samples])
            index += 1


def run_process(code: str, *argv: str) -> dict:
    """Wall time, CPU time and peak memory of a fresh Python process."""
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=ROOT
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    words = result.stdout.split()
    cpu, rss = float(words[words.index("CPU") + 1]), int(words[words.index("MAXRSS") + 1])
    return {"seconds": time.perf_counter() - began, "cpu_s": cpu, "peak_mib": rss / 1024}


def time_and_memory(model: str, minutes: list, threads: int) -> list:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for duration in minutes:
            wav, fcz, out = (Path(tmp) / name for name in ("in.wav", "in.fcz", "out.wav"))
            make_audio(wav, duration)
            common = ["--model", model, "--threads", str(threads), "--quiet", "--force"]
            encode = run_process(RUNNER, "encode", *common, str(wav), str(fcz))
            decode = run_process(RUNNER, "decode", *common, str(fcz), str(out))
            row = {
                "model": Path(model).name,
                "minutes": duration,
                "encode_wall_s": round(encode["seconds"], 1),
                "encode_cpu_s": round(encode["cpu_s"], 1),
                "encode_peak_mib": round(encode["peak_mib"]),
                "decode_wall_s": round(decode["seconds"], 1),
                "decode_cpu_s": round(decode["cpu_s"], 1),
                "decode_peak_mib": round(decode["peak_mib"]),
                "fcz_bytes": fcz.stat().st_size,
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def whole_utterance(model: str, minutes: list, threads: int) -> list:
    """Peak memory of encoding each duration in one piece (``sig_to_toks``)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for duration in minutes:
            wav = Path(tmp) / "in.wav"
            make_audio(wav, duration)
            whole = run_process(WHOLE, model, str(wav), str(threads))
            row = {
                "model": Path(model).name,
                "minutes": duration,
                "whole_encode_cpu_s": round(whole["cpu_s"], 1),
                "whole_encode_peak_mib": round(whole["peak_mib"]),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def token_effect(codec: FocalCodec, settings: list) -> list:
    """Agreement of segmented with whole-utterance tokens on the bundled speech."""
    speech = [load_audio(p, 16000) for p in SPEECH]
    long = torch.cat(speech)  # ~3 min, processed whole as the reference
    rows = []
    with torch.no_grad():
        references = [codec.sig_to_toks(sig[None]) for sig in speech + [long]]
        for segment, context in settings:
            same = bits = total = 0
            for sig, whole in zip(speech + [long], references):
                toks = encode_long(codec, sig, segment, context)
                same += int((toks == whole).sum())
                differing = (toks ^ whole)[0]
                bits += sum(bin(int(value)).count("1") for value in differing)
                total += whole.shape[1]
            whole = references[-1]
            rec = decode_long(codec, whole, segment, context)
            ref = codec.toks_to_sig(whole)
            snr = 10 * torch.log10(ref.pow(2).sum() / (rec - ref).pow(2).sum().clamp(min=1e-20))
            row = {
                "segment_s": segment,
                "context_s": context,
                "token_agreement": round(same / total, 4),
                "bit_agreement": round(1 - bits / (total * codec.code_dim), 4),
                "decoded_snr_db_vs_whole": round(float(snr), 1),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def full_size_model(directory: Path) -> str:
    """The official 50 Hz architecture with random weights, saved locally."""
    manifest = json.loads((ROOT / "tests/golden/manifests/focalcodec_50hz.json").read_text())
    torch.manual_seed(0)
    FocalCodec.from_config(manifest["config"]).save_pretrained(directory)
    return str(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 15, 30, 60])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--full-size", action="store_true", help="142M-parameter 50 Hz model")
    parser.add_argument("--tokens-only", action="store_true")
    parser.add_argument(
        "--whole", action="store_true", help="encode in one piece instead (memory grows)"
    )
    parser.add_argument(
        "--models", nargs="+", default=["tiny_50hz", "tiny_causal"], help="golden tiny models"
    )
    args = parser.parse_args()
    if args.tokens_only:
        torch.set_num_threads(args.threads)
        codec = FocalCodec.from_pretrained(ROOT / "tests/golden/tiny_50hz")
        settings = [(2, 0), (2, 0.5), (2, 1), (2, 3), (10, 1), (10, 3), (20, 5)]
        token_effect(codec, settings)
        return
    measure = whole_utterance if args.whole else time_and_memory
    if args.full_size:
        with tempfile.TemporaryDirectory() as tmp:
            measure(full_size_model(Path(tmp)), args.minutes, args.threads)
        return
    for model in args.models:
        measure(str(ROOT / "tests/golden" / model), args.minutes, args.threads)


if __name__ == "__main__":
    main()
