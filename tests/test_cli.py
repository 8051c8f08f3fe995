"""The ``focalcodec`` command line on the bundled speech and the tiny models."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.audio import load_audio
from speechbrain_focalcodec.bitstream import load_tokens
from speechbrain_focalcodec.cli import main
from tests.conftest import GOLDEN, LIBRISPEECH, ROOT, SAMPLES
from tests.test_streaming import _one_thread  # noqa: F401  (small tensors)

OFFLINE = str(GOLDEN / "tiny_50hz")
CAUSAL = str(GOLDEN / "tiny_causal")
SPEECH = str(LIBRISPEECH[1])  # 84-121123-0000, 2.09 s


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_encode_decode_roundtrip(tmp_path, capsys):
    fcz, wav = tmp_path / "speech.fcz", tmp_path / "speech.wav"
    assert run(capsys, "encode", "--model", OFFLINE, SPEECH, str(fcz))[0] == 0
    codec = FocalCodec.from_pretrained(OFFLINE)
    sig = load_audio(SPEECH, 16000)
    token_file = load_tokens(fcz, codec)
    assert torch.equal(token_file.toks, codec.sig_to_toks(sig[None]))
    assert token_file.num_samples == sig.shape[0]
    payload = (token_file.toks.shape[1] * 13 + 7) // 8
    assert fcz.stat().st_size == 39 + len(OFFLINE.encode()) + payload + 4
    assert run(capsys, "decode", "--model", OFFLINE, str(fcz), str(wav))[0] == 0
    decoded, rate = sf.read(wav, dtype="float32")
    assert rate == 16000 and decoded.shape == (sig.shape[0],)
    expected = codec.sig_to_sig(sig[None])[0].numpy()
    assert np.abs(decoded - expected).max() < 2e-4  # 16-bit PCM
    assert run(capsys, "resynth", "--model", OFFLINE, SPEECH, str(tmp_path / "re.wav"))[0] == 0
    assert np.array_equal(sf.read(tmp_path / "re.wav", dtype="float32")[0], decoded)


@pytest.mark.parametrize("fmt", ["npy", "pt"])
def test_folders_globs_and_formats(tmp_path, capsys, fmt):
    status, _, err = run(
        capsys,
        "encode",
        "--model",
        OFFLINE,
        "--format",
        fmt,
        str(SAMPLES / "voicebank-noisy-testset"),
        str(SAMPLES / "librispeech-dev-clean" / "84-121123-000[12].flac"),
        str(tmp_path / "toks"),
    )
    assert status == 0, err
    written = sorted(p.name for p in (tmp_path / "toks").iterdir())
    assert written == [
        f"{name}.{fmt}"
        for name in ["84-121123-0001", "84-121123-0002", "p226_006", "p257_003", "p287_007"]
    ]
    assert "5/5" in err  # the progress bar
    status, _, err = run(
        capsys,
        "decode",
        "--model",
        OFFLINE,
        "--quiet",
        str(tmp_path / "toks"),
        str(tmp_path / "wav"),
    )
    assert status == 0 and err == ""
    assert len(list((tmp_path / "wav").glob("*.wav"))) == 5


def test_stream_reports_latency_and_matches_offline(tmp_path, capsys):
    out = tmp_path / "stream.wav"
    status, stdout, _ = run(capsys, "stream", "--model", CAUSAL, SPEECH, "--output", str(out))
    assert status == 0
    assert "27 chunks of 80 ms" in stdout and "p95" in stdout and "real-time factor" in stdout
    codec = FocalCodec.from_pretrained(CAUSAL)
    expected = codec.sig_to_sig(load_audio(SPEECH, 16000)[None])[0].numpy()
    streamed, rate = sf.read(out, dtype="float32")
    assert rate == 24000 and np.abs(streamed - expected).max() < 2e-4


@pytest.mark.parametrize("method", ["knn", "transport"])
def test_convert(tmp_path, capsys, method):
    out = tmp_path / "converted.wav"
    status, _, err = run(
        capsys,
        "convert",
        "--model",
        OFFLINE,
        "--method",
        method,
        "--reference",
        str(LIBRISPEECH[2]),
        "--reference",
        str(LIBRISPEECH[3]),
        str(LIBRISPEECH[0]),
        str(out),
    )
    assert status == 0, err
    converted, _ = sf.read(out, dtype="float32")
    assert converted.shape[0] == sf.info(LIBRISPEECH[0]).frames and np.isfinite(converted).all()


def test_info(tmp_path, capsys):
    status, out, _ = run(capsys, "info", "--model", CAUSAL)
    assert status == 0
    for text in ["24000 Hz", "4096 (12 bits per token)", "600 bit/s", "80 ms", "1280 samples"]:
        assert text in out
    run(capsys, "encode", "--model", CAUSAL, SPEECH, str(tmp_path / "a.fcz"))
    status, out, _ = run(capsys, "info", str(tmp_path / "a.fcz"))
    assert status == 0 and "105 tokens, 2.09 s at 16000 Hz, 12 bits per token" in out


def test_console_script_errors_are_one_line(tmp_path):
    """Through a real process: exit status 1 and one line on stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "speechbrain_focalcodec.cli", "stream", "--model", OFFLINE, SPEECH],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"focalcodec: error: {OFFLINE} is not a causal model; streaming needs FocalCodec-Stream "
        "(e.g. lucadellalib/focalcodec_50hz_4k_causal)"
    ]
    assert "setup.py" not in result.stdout
    setup = (ROOT / "setup.py").read_text()
    assert '"focalcodec=speechbrain_focalcodec.cli:main"' in setup


def test_evaluate_and_extract_tokens_are_subcommands(tmp_path, capsys):
    status = main(["--help"])
    assert status == 0 and "extract-tokens" in capsys.readouterr().out
    (tmp_path / "audio").mkdir()
    shutil.copy(SPEECH, tmp_path / "audio")
    status, _, _ = run(
        capsys, "evaluate", str(tmp_path / "audio"), "--model", OFFLINE,
        "--metrics", "mel_distance", "si_sdr", "--output", str(tmp_path / "eval"),
        "--num-spectrograms", "0", "--no-progress",
    )  # fmt: skip
    assert status == 0
    assert "tiny_50hz" in (tmp_path / "eval" / "results.md").read_text()
    manifest = tmp_path / "data.json"
    manifest.write_text(f'{{"utt": {{"wav": "{SPEECH}"}}}}')
    status, _, _ = run(
        capsys, "extract-tokens", str(manifest), "--codec", OFFLINE,
        "--output_folder", str(tmp_path / "toks"), "--device", "cpu", "--no_progress",
    )  # fmt: skip
    assert status == 0 and any((tmp_path / "toks").iterdir())
    status, _, err = run(capsys, "evaluate", str(tmp_path / "missing"), "--model", OFFLINE)
    assert status == 1 and err.count("\n") == 1 and "focalcodec evaluate: error" in err


def test_stream_offers_only_knn_conversion(tmp_path, capsys):
    """The transport map needs the whole source's statistics: `stream --method transport`
    is a usage error (it used to load the model and then fail on every input)."""
    status, _, err = run(
        capsys, "stream", "--model", CAUSAL, "--reference", SPEECH, "--method", "transport", SPEECH
    )
    assert status == 2 and "invalid choice: 'transport'" in err


def test_convert_names_references_too_short_for_transport(tmp_path, capsys):
    """One-frame references: the error names the references, once, not each source."""
    short = tmp_path / "short.wav"
    sf.write(short, np.full(1, 0.1, dtype="float32"), 16000)
    status, _, err = run(
        capsys, "convert", "--model", OFFLINE, "--method", "transport", "--reference", str(short),
        SPEECH, str(LIBRISPEECH[2]), str(tmp_path / "out"),
    )  # fmt: skip
    lines = err.strip().splitlines()
    assert status == 1 and len(lines) == 1, err
    assert "references" in lines[0] and "at least 2 frames" in lines[0]
    assert SPEECH not in lines[0] and not (tmp_path / "out").exists()
    # A one-frame source: the message says it is the source that is too short.
    status, _, err = run(
        capsys, "convert", "--model", OFFLINE, "--method", "transport", "--reference", SPEECH,
        str(short), str(tmp_path / "out.wav"),
    )  # fmt: skip
    assert status == 1 and "source" in err and "at least 2 frames" in err
