"""Audio input and output: lengths come from decoded samples, resampling memory is
bounded for any rate, absurd rates are refused, and audio outputs appear whole."""

import subprocess
import sys
import threading

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from speechbrain_focalcodec.audio import AudioError, _resample_blocks, load_audio, resample
from speechbrain_focalcodec.audio_files import AudioFileReader, AudioFileWriter
from speechbrain_focalcodec.bitstream import load_tokens
from speechbrain_focalcodec.cli import main
from speechbrain_focalcodec.files import OutputError
from tests.conftest import GOLDEN, LIBRISPEECH, ROOT
from tests.test_streaming import _one_thread  # noqa: F401  (small tensors)

CAUSAL = str(GOLDEN / "tiny_causal")


@pytest.fixture(scope="module")
def truncated_mp3(tmp_path_factory):
    """An MP3 whose LAME header states twice the frames that decode."""
    sig, rate = sf.read(LIBRISPEECH[1], dtype="float32")
    path = tmp_path_factory.mktemp("mp3") / "whole.mp3"
    sf.write(path, sig[:32000], rate)
    data = path.read_bytes()
    short = path.with_name("cut.mp3")
    short.write_bytes(data[: len(data) // 2])
    return short


def test_lengths_come_from_decoded_samples(truncated_mp3, tmp_path, capsys):
    decoded = len(sf.read(truncated_mp3, dtype="float32")[0])
    assert sf.info(truncated_mp3).frames == 32000 > decoded  # the header overstates
    reader = AudioFileReader(truncated_mp3, 16000)
    assert reader.num_samples == decoded
    assert reader.read().shape == (decoded,)
    assert load_audio(truncated_mp3, 16000).shape == (decoded,)
    out = tmp_path / "streamed.wav"
    assert main(["stream", "--model", CAUSAL, str(truncated_mp3), "--output", str(out)]) == 0
    assert len(sf.read(out)[0]) == decoded * 24000 // 16000
    fcz = tmp_path / "cut.fcz"
    assert main(["encode", "--model", CAUSAL, str(truncated_mp3), str(fcz)]) == 0
    assert load_tokens(fcz).num_samples == decoded
    capsys.readouterr()


def _wav_with_rate(path, rate):
    sf.write(path, np.zeros(1600, np.float32), 16000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[24:28] = rate.to_bytes(4, "little")  # fmt chunk: sample rate
    data[28:32] = (rate * 2).to_bytes(4, "little", signed=False) if rate < 2**31 else data[28:32]
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("rate", [1_000_000_007, 800_000, 999])
def test_absurd_rates_are_refused(rate, tmp_path, capsys):
    path = _wav_with_rate(tmp_path / "absurd.wav", rate)
    assert sf.info(path).samplerate == rate
    with pytest.raises(AudioError, match=f"sample rate {rate} Hz is outside"):
        load_audio(path, 16000)
    with pytest.raises(AudioError, match=f"sample rate {rate} Hz is outside"):
        AudioFileReader(path, 16000)
    assert main(["encode", "--model", CAUSAL, str(path), str(tmp_path / "x.fcz")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "outside the supported 1000 to 768000 Hz" in err
    with pytest.raises(AudioError, match="outside"):
        resample(torch.zeros(10), 16000, rate)


@pytest.mark.parametrize("rates", [(44100, 16000), (16000, 44100), (22050, 24000), (16, 7)])
def test_blockwise_resampling_equals_torchaudio(rates):
    """The block-wise filter is torchaudio's (computed in float64 here, float32 there)."""
    sig = torch.randn(2, 4000, generator=torch.Generator().manual_seed(0))
    divisor = np.gcd(*rates)
    expected = torchaudio.functional.resample(sig, *rates)
    got = _resample_blocks(sig, rates[0] // divisor, rates[1] // divisor)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() < 1e-4


PEAK = """
import sys
from speechbrain_focalcodec.audio import load_audio
from speechbrain_focalcodec.audio_files import AudioFileReader


def peak_kib():  # this process's own peak (ru_maxrss may include its parent's, from fork)
    status = open("/proc/self/status").read().split("VmHWM:")[1]
    return int(status.split()[0])


before = peak_kib()
sig = load_audio(sys.argv[1], 16000)
piece = AudioFileReader(sys.argv[1], 16000).read(0, 16000)
print(sig.shape[0], piece.shape[0], (peak_kib() - before) // 1024)
"""


def test_resampling_memory_is_bounded(tmp_path):
    """1 s at 7919 Hz (prime): torchaudio's filter bank alone would take 2 GB."""
    path = tmp_path / "prime.wav"
    sf.write(path, np.random.default_rng(0).uniform(-0.5, 0.5, 7919).astype(np.float32), 7919)
    result = subprocess.run(
        [sys.executable, "-c", PEAK, str(path)], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    whole, piece, grown_mib = map(int, result.stdout.split())
    assert whole == piece == 16000
    assert grown_mib < 200, f"resampling took {grown_mib} MiB"
    sig = torch.from_numpy(sf.read(path, dtype="float32")[0])
    ramp = torchaudio.functional.resample(sig[:1000], 7919, 16000)  # small: checkable
    assert (resample(sig[:1000], 7919, 16000) - ramp).abs().max() < 1e-4


def test_concurrent_writers_leave_a_whole_file(tmp_path):
    """Two writers of one path: the result is one of them, whole, never a mix."""
    import time

    path = tmp_path / "same.wav"
    started = threading.Barrier(2)

    def writer(value):
        with AudioFileWriter(path, 16000) as out:
            started.wait()
            for _ in range(50):
                out.write(torch.full((160,), value))
                time.sleep(0.001)  # let the other writer in

    threads = [threading.Thread(target=writer, args=(v,)) for v in (0.25, -0.5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sig, _ = sf.read(path, dtype="float32")
    assert sig.shape == (8000,)
    assert np.unique(sig).shape == (1,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.wav"]


def test_a_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "out.wav"
    with pytest.raises(RuntimeError, match="boom"):
        with AudioFileWriter(path, 16000) as out:
            out.write(torch.zeros(1600))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with AudioFileWriter(path, 16000) as out:
        out.write(torch.zeros(1600))
    with pytest.raises(RuntimeError, match="boom"):
        with AudioFileWriter(path, 16000) as out:
            out.write(torch.ones(10))
            raise RuntimeError("boom")
    assert sf.read(path)[0].shape == (1600,)  # the previous file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_folders_and_file_parents_are_named_for_what_they_are(tmp_path, capsys):
    """A folder given where an audio file is needed is not "No such audio file"; an
    output below a file is not "File exists"."""
    with pytest.raises(AudioError, match="is a folder, not an audio file"):
        AudioFileReader(tmp_path, 16000)
    with pytest.raises(AudioError, match="is a folder, not an audio file"):
        load_audio(tmp_path, 16000)
    status = main(["stream", "--model", CAUSAL, str(tmp_path), "--quiet"])
    assert status == 1 and "is a folder, not an audio file" in capsys.readouterr().err
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(OutputError, match=f"cannot write .*: {blocker} is not a folder"):
        with AudioFileWriter(blocker / "out.wav", 16000) as out:
            out.write(torch.zeros(160))
