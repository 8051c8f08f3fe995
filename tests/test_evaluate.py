"""Evaluation: signal metrics on known cases, DNSMOS, and the evaluation command
on the bundled speech with a tiny codec."""

import csv
import json
import math

import pytest
import torch

from speechbrain_focalcodec.audio import load_audio
from speechbrain_focalcodec.evaluation.evaluate import main
from speechbrain_focalcodec.evaluation.manifest import ManifestError, read_utterances
from speechbrain_focalcodec.evaluation.models import DNSMOS
from speechbrain_focalcodec.evaluation.signals import mel_distance, pesq_wb, si_sdr, stoi
from tests.conftest import GOLDEN, LIBRISPEECH, SAMPLES


def noisy(sig: torch.Tensor, snr_db: float, seed: int = 0) -> torch.Tensor:
    """``sig`` plus white noise at ``snr_db``."""
    noise = torch.randn(sig.shape, generator=torch.Generator().manual_seed(seed))
    noise = noise * (sig.pow(2).mean() / noise.pow(2).mean() / 10 ** (snr_db / 10)).sqrt()
    return sig + noise


@pytest.fixture(scope="module")
def utterance():
    return load_audio(LIBRISPEECH[1], 16000)  # 84-121123-0000, 2.1 s


def test_si_sdr_known_cases(utterance):
    for snr in (0.0, 10.0, 20.0):
        assert si_sdr(utterance, noisy(utterance, snr)) == pytest.approx(snr, abs=0.2)
    # Scale- and offset-invariant; length set by the shorter input.
    hyp = noisy(utterance, 10.0)
    assert si_sdr(utterance, 3.0 * hyp + 0.01) == pytest.approx(si_sdr(utterance, hyp), abs=1e-6)
    assert si_sdr(utterance, hyp[:-100]) == pytest.approx(si_sdr(utterance, hyp), abs=0.1)
    assert si_sdr(utterance, utterance) > 70.0
    with pytest.raises(ValueError, match="1-D"):
        si_sdr(utterance[None], utterance[None])


def test_mel_distance_and_stoi_order_by_noise(utterance):
    assert mel_distance(utterance, utterance) == 0.0
    distances = [mel_distance(utterance, noisy(utterance, snr)) for snr in (30.0, 10.0, 0.0)]
    assert distances == sorted(distances) and distances[0] > 0.0
    assert stoi(utterance, utterance, 16000) == pytest.approx(1.0, abs=1e-6)
    scores = [stoi(utterance, noisy(utterance, snr), 16000) for snr in (20.0, 0.0, -10.0)]
    assert scores == sorted(scores, reverse=True) and scores[-1] < 0.8


def test_wideband_pesq_known_cases(utterance):
    assert pesq_wb(utterance, utterance, 16000) > 4.5
    # Any input rate: resampled to 16 kHz first.
    at_24k = load_audio(LIBRISPEECH[1], 24000)
    assert pesq_wb(at_24k, at_24k, 24000) > 4.5
    assert pesq_wb(utterance, noisy(utterance, 0.0), 16000) < 2.0
    assert math.isnan(pesq_wb(torch.zeros(32000), torch.zeros(32000), 16000))


def test_dnsmos_ranks_speech_above_noise():
    metric = DNSMOS(16000)
    speech = load_audio(SAMPLES / "voicebank-noisy-testset" / "p226_006.flac", 16000)
    noise = 0.3 * torch.randn(16000 * 3, generator=torch.Generator().manual_seed(0))
    metric.append(["speech", "noise"], torch.stack([speech[:48000], noise]))
    speech_score, noise_score = metric.scores
    assert 1.0 <= noise_score < 2.0 < speech_score <= 5.0
    assert metric.bak[0] > metric.bak[1]


def test_read_utterances_manifests(tmp_path):
    folder = read_utterances(SAMPLES / "librispeech-dev-clean")
    assert len(folder) == len(LIBRISPEECH) and folder[0][0] == "251-118436-0003"
    (tmp_path / "m.csv").write_text(f"ID,duration,wav\na,1.0,{LIBRISPEECH[0]}\nb,2.0,x.flac\n")
    assert read_utterances(tmp_path / "m.csv") == [
        ("a", LIBRISPEECH[0]),
        ("b", tmp_path / "x.flac"),
    ]
    (tmp_path / "m.json").write_text(json.dumps({"u1": {"wav": "$data_root/y.wav"}}))
    assert read_utterances(tmp_path / "m.json") == [("u1", tmp_path / "y.wav")]
    (tmp_path / "bad.csv").write_text("ID,text\na,hello\n")
    with pytest.raises(ManifestError, match="no audio column"):
        read_utterances(tmp_path / "bad.csv")
    (tmp_path / "dup.txt").write_text(f"{LIBRISPEECH[0]}\n{LIBRISPEECH[0]}\n")
    with pytest.raises(ManifestError, match="Repeated"):
        read_utterances(tmp_path / "dup.txt")
    with pytest.raises(ManifestError, match="No such"):
        read_utterances(tmp_path / "missing")


def test_evaluate_command_on_bundled_speech(tmp_path, capsys, monkeypatch):
    """Two real utterances and one unreadable file, through the tiny codec:
    UTMOS switches off with a message (offline), the other metrics still run."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch-hub"))
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio")
    manifest = tmp_path / "test.csv"
    rows = [("clean_a", LIBRISPEECH[1]), ("broken", broken), ("clean_b", LIBRISPEECH[3])]
    manifest.write_text("ID,wav\n" + "".join(f"{i},{p}\n" for i, p in rows))
    out = tmp_path / "out"
    status = main(
        [str(manifest), "--model", str(GOLDEN / "tiny_50hz"), "--output", str(out)]
        + ["--metrics", "utmos", "stoi", "pesq", "mel_distance", "si_sdr"]
        + ["--num-spectrograms", "1", "--no-progress"]
    )
    captured = capsys.readouterr()
    assert status == 0
    assert "switched off" in captured.err and "utmos" in captured.err
    with open(out / "tiny_50hz" / "utterances.csv") as file:
        table = list(csv.DictReader(file))
    assert [row["id"] for row in table] == ["clean_a", "clean_b"]
    assert set(table[0]) >= {"stoi", "pesq", "mel_distance", "si_sdr", "num_tokens"}
    assert int(table[0]["num_tokens"]) == 104  # 2.09 s at 50 Hz
    assert 0.0 <= float(table[0]["stoi"]) <= 1.0
    results = json.loads((out / "results.json").read_text())
    summary = results["models"][0]
    assert summary["num_utterances"] == 2 and summary["num_skipped"] == 1
    assert summary["bitrate_kbps"] == pytest.approx(0.65)
    assert 0.0 < summary["code_usage"] <= 100.0 and 0.0 < summary["code_entropy"] <= 1.0
    assert results["metrics_off"] == ["utmos"]
    markdown = (out / "results.md").read_text()
    assert "| tiny_50hz | 0.65 | 50 | 8192 | n/a |" in markdown
    assert "| Reference |" not in markdown  # no reference metric could run offline
    assert markdown == captured.out.split("\nPer-utt")[0]
    pngs = list((out / "tiny_50hz" / "spectrograms").glob("*.png"))
    assert [p.name for p in pngs] == ["clean_a.png"] and pngs[0].stat().st_size > 10000


@pytest.mark.parametrize(
    "args, status, message",
    [
        (["does/not/exist"], 1, "No such folder or manifest"),
        ([str(LIBRISPEECH[0].parent), "--model", "does/not/exist/dir"], 1, "Cannot load model"),
        ([str(LIBRISPEECH[0].parent), "--max-utterances", "0"], 2, "whole number >= 1"),
    ],
)
def test_evaluate_command_bad_input(args, status, message, tmp_path, capsys):
    """Errors exit 1 with one line; only command-line usage errors exit 2."""
    got = main(args + ["--output", str(tmp_path), "--metrics", "si_sdr", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert got == status and err[-1].startswith("focalcodec-evaluate: error: ")
    assert message in err[-1]


def test_stoi_too_short_for_its_frames_is_nan(utterance):
    """pystoi returns a placeholder 1e-05 (with a warning) below 30 frames of speech, or
    fails on a few samples: that is no score, and must not enter an average."""
    for length in (1, 300, 4000):
        assert math.isnan(stoi(utterance[:length], utterance[:length], 16000))
    assert stoi(utterance, utterance, 16000) == pytest.approx(1.0, abs=1e-6)


def test_evaluate_skips_utterances_too_short_to_score(tmp_path, capsys, caplog):
    """A 1-sample file used to stop the whole evaluation (STOI's numpy AxisError, the
    mel spectrogram's padding error); it is skipped and counted like unreadable audio."""
    import soundfile

    tiny = tmp_path / "tiny.wav"
    soundfile.write(tiny, [0.1], 16000)
    manifest = tmp_path / "test.csv"
    rows = [("tiny", tiny), ("clean", LIBRISPEECH[1])]
    manifest.write_text("ID,wav\n" + "".join(f"{i},{p}\n" for i, p in rows))
    out = tmp_path / "out"
    status = main(
        [str(manifest), "--model", str(GOLDEN / "tiny_50hz"), "--output", str(out)]
        + ["--metrics", "stoi", "pesq", "mel_distance", "si_sdr", "--quiet"]
    )
    assert status == 0, capsys.readouterr().err
    summary = json.loads((out / "results.json").read_text())["models"][0]
    assert summary["num_utterances"] == 1 and summary["num_skipped"] == 1
    assert "Skipping tiny: 0.000 s, shorter than" in caplog.text


def test_evaluate_output_that_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "evaluation"
    blocker.write_text("x")
    status = main(
        [str(LIBRISPEECH[1].parent), "--model", str(GOLDEN / "tiny_50hz"), "--output"]
        + [str(blocker), "--metrics", "si_sdr", "--max_utterances", "1", "--quiet"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and err[-1].endswith(f"{blocker} is not a folder")
