"""Smoke tests of the benchmark scripts (tiny models, short inputs, one repeat).

They check that each script runs end to end and prints its table; they never
look at the timings.
"""

import re
import subprocess
import sys

import pytest

from benchmarks import fast_mode, flops, memory, peers, rtf, streaming, throughput
from tests.conftest import ROOT

TINY = ["--tiny", "--repeats", "1", "--threads", "1"]


def tables(output: str) -> list:
    """The markdown tables of ``output``: lists of rows of cells (header and rule dropped)."""
    found, current = [], []
    for line in output.splitlines() + [""]:
        if line.startswith("| "):
            current.append([cell.strip() for cell in line.strip("|").split("|")])
        elif current:
            found.append(current[2:])
            current = []
    return found


def table_rows(output: str) -> list:
    return tables(output)[-1]


def test_rtf(capsys):
    assert rtf.main(TINY + ["--variants", "25hz", "causal", "--batch-sizes", "1", "2"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert [row[:2] for row in rows] == [
        ["25hz", "1"],
        ["25hz", "2"],
        ["causal", "1"],
        ["causal", "2"],
    ]


def test_memory_runs_and_skips_what_would_not_fit(capsys):
    assert memory.main(TINY + ["--variants", "50hz", "--max-gb", "0.01"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert len(rows) == 2
    assert float(rows[0][3]) > 0.0  # peak RSS of the 1 s run, in GB
    assert rows[1][3].startswith("not run: predicted")


def test_streaming(capsys):
    assert streaming.main(TINY) == 0
    rows = table_rows(capsys.readouterr().out)
    assert rows[0][0] == "this package, float32"
    assert float(rows[0][3]) > 0.0 and rows[0][-2] in ("yes", "no") and rows[0][-1] == "-"
    fast = [row for row in rows if row[0].startswith("this package, fast mode")]
    assert all(row[-1].endswith("%") for row in fast)


def test_streaming_max_streams(capsys):
    assert streaming.main(TINY + ["--max-streams", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "family" in out and "Measured peak: float32, torch.mm (MKL)" in out and "bfloat16" in out
    rows = table_rows(out)
    # Timings decide where the search stops (a busy machine may stop it at 1).
    assert rows and [row[0] for row in rows] == ["1", "2"][: len(rows)]
    assert all(float(row[1]) > 0 and float(row[2]) >= float(row[1]) for row in rows)
    assert re.search(r"Maximum concurrent real-time streams \(p95 < 80 ms\): float32 [0-2]", out)


def test_streaming_max_streams_bad_limit():
    with pytest.raises(SystemExit, match="--limit"):
        streaming.main(TINY + ["--max-streams", "--limit", "0"])


def test_peers(capsys):
    assert peers.main(TINY + ["--peers", "encodec"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert [row[0] for row in rows] == ["FocalCodec@50 (this package)", "EnCodec 24 kHz"]


def test_fp32_peak_is_the_better_float32_path():
    """The machine's float32 peak is its best float32 product, whichever library runs
    it (MKL on AMD Zen 3, oneDNN on Zen 4 / Zen 5), never a bfloat16 rate."""
    from benchmarks.common import fp32_peak

    peaks = {"float32, torch.mm (MKL)": 177.0, "float32, oneDNN": 149.0, "bfloat16, oneDNN": 400.0}
    assert fp32_peak(peaks) == 177.0
    peaks.update({"float32, oneDNN": 205.0})
    assert fp32_peak(peaks) == 205.0


def test_flops(capsys):
    assert flops.main(TINY + ["--variant", "12_5hz"]) == 0
    peaks, components = tables(capsys.readouterr().out)
    assert [row[0] for row in peaks][0] == "float32, torch.mm (MKL)"
    assert all(float(row[1]) > 0 for row in peaks)
    names = [row[0] for row in components]
    assert "encoder: transformer" in names and "decode (toks_to_sig)" in names
    assert all(float(row[1]) > 0 for row in components)  # GFLOP per audio second


def test_fast_mode(capsys):
    assert fast_mode.main(TINY) == 0
    rows = table_rows(capsys.readouterr().out)
    agreement = {row[0]: row[-1] for row in rows}
    assert agreement["this package, float32"] == "100.00%"
    assert len(agreement) == 3


def test_throughput_on_cpu(capsys):
    argv = TINY + ["--device", "cpu", "--batch-size", "2", "--variants", "12_5hz"]
    assert throughput.main(argv) == 0
    rows = table_rows(capsys.readouterr().out)
    assert [row[0] for row in rows] == [
        "this package, float32",
        "fast: bf16 linear layers",
        "fast: + bf16 feature extractor",
    ]
    assert rows[0][2] == "1.00x" and rows[0][-2:] == ["100.00%", "100.00%"]
    assert all(float(row[1]) > 0 and float(row[3]) > 0 for row in rows)


def test_training_steps_of_both_stages():
    # A subprocess: the recipe's modules import each other by bare names.
    command = [sys.executable, "-m", "benchmarks.training_steps", "--device", "cpu", *TINY]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = table_rows(out.stdout)
    assert [row[:3] for row in rows] == [
        ["1", "2 x 1 s", "fp32"],
        ["1", "2 x 1 s", "bf16"],
        ["2", "2 x 1 s", "fp32"],
        ["2", "2 x 1 s", "bf16"],
    ]
    assert all(float(row[3]) > 0 for row in rows)


def test_gpu_check_smoke_on_cpu():
    """``python -m benchmarks.gpu_check`` on the CPU: device tests (one here),
    throughput, streaming, and the summary table (training steps: tested above)."""
    command = [sys.executable, "-m", "benchmarks.gpu_check", "--device", "cpu", *TINY]
    command += ["--skip", "training", "--pytest-args", "-k test_linear_and_conv_gradients"]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "1 passed" in out.stdout
    summary = table_rows(out.stdout)
    assert [row[:2] for row in summary] == [
        ["device tests", "ok"],
        ["training steps, fp32 and bf16", "skipped"],
        ["training steps, 2 processes", "skipped"],
        ["throughput, batch 16", "ok"],
        ["streaming per chunk", "ok"],
    ]
    assert all(float(row[3].split()[0]) > 0 for row in summary if row[1] == "ok")


@pytest.mark.parametrize("script", [rtf, streaming, flops, fast_mode, throughput])
def test_bad_reference_path(script, tmp_path):
    with pytest.raises(SystemExit, match="not a checkout"):
        script.main(TINY + ["--reference", str(tmp_path)])
