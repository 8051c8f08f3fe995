"""Outputs are written whole with the usual permissions, without touching
process-wide state; limits follow what the process may use."""

import argparse
import os
import stat

import pytest
import soundfile as sf
import torch

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.audio import AudioError
from speechbrain_focalcodec.audio_files import AudioFileReader, write_audio_file
from speechbrain_focalcodec.command_line import thread_count
from speechbrain_focalcodec.evaluation.generated_speech import save_signals
from speechbrain_focalcodec.files import atomic_write_text, current_umask
from tests.conftest import GOLDEN


def _real_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@pytest.fixture
def umask_untouchable(monkeypatch):
    """The process's umask may be read but not set (another thread could create
    a file while it is changed)."""
    umask = _real_umask()

    def refuse(mask: int) -> int:
        raise AssertionError(f"os.umask({oct(mask)}) called")

    monkeypatch.setattr(os, "umask", refuse)
    return umask


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="Linux /proc only")
def test_outputs_get_the_umask_without_setting_it(tmp_path, umask_untouchable):
    assert current_umask() == umask_untouchable
    atomic_write_text(tmp_path / "a.txt", "x")
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644 & ~umask_untouchable
    FocalCodec.from_pretrained(GOLDEN / "tiny_causal").save_pretrained(tmp_path / "codec")
    for name in ("config.json", "hyperparams.yaml", "model.safetensors"):
        mode = stat.S_IMODE((tmp_path / "codec" / name).stat().st_mode)
        assert mode == 0o644 & ~umask_untouchable, name


def test_current_umask_without_proc(monkeypatch):
    """Where the system does not tell the mask, it is read by setting the strictest one."""
    import builtins

    real_open = builtins.open

    def no_proc(path, *args, **kwargs):
        if str(path).startswith("/proc/"):
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_proc)
    umask = _real_umask()
    assert current_umask() == umask and _real_umask() == umask


def test_thread_count_follows_the_affinity(monkeypatch):
    """A process allowed on one CPU of a 64-CPU machine (taskset, containers)."""
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert thread_count("1") == 1
    with pytest.raises(argparse.ArgumentTypeError, match=r"from 1 to 1 \(the CPUs this process"):
        thread_count("2")


def _failing_write(monkeypatch):
    """libsndfile fails after writing part of the samples (e.g. a full disk)."""
    write = sf.SoundFile.write

    def half_then_fail(self, data):
        write(self, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sf.SoundFile, "write", half_then_fail)


def test_saved_signals_appear_whole(tmp_path, monkeypatch):
    """Evaluation outputs: a failed write leaves the previous file, no partial one."""
    sig = torch.linspace(-0.5, 0.5, 3200).repeat(2, 1)
    save_signals(tmp_path, ["a", "b"], sig, torch.tensor([1.0, 0.5]), 16000)
    assert AudioFileReader(tmp_path / "b.wav", 16000).num_samples == 1600
    before = (tmp_path / "a.wav").read_bytes()
    _failing_write(monkeypatch)
    with pytest.raises(OSError):
        save_signals(tmp_path, ["a"], 0.9 * sig[:1], torch.tensor([1.0]), 16000)
    assert (tmp_path / "a.wav").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav"]


def test_write_audio_file_clips_and_checks_its_input(tmp_path):
    write_audio_file(tmp_path / "loud.wav", torch.tensor([2.0, -3.0, 0.5]), 8000)
    samples, rate = sf.read(str(tmp_path / "loud.wav"))
    assert rate == 8000 and samples.max() <= 1.0 and samples.min() >= -1.0
    assert samples[0] > 0.99 and samples[1] < -0.99  # clipped, not wrapped around
    with pytest.raises(AudioError, match=r"expected \[samples\], got \[2, 3\]"):
        write_audio_file(tmp_path / "stereo.wav", torch.zeros(2, 3), 8000)
    assert not (tmp_path / "stereo.wav").exists()
