"""The SpeechBrain interface (``from_hparams``) and audio file handling."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.audio import AudioError, load_audio, resample
from speechbrain_focalcodec.checkpoints import CheckpointError
from speechbrain_focalcodec.codec_config import hparams_yaml
from speechbrain_focalcodec.inference import FocalCodecInterface
from tests.conftest import GOLDEN, LIBRISPEECH, random_codec


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A codec saved the way training exports it."""
    directory = tmp_path_factory.mktemp("model")
    random_codec("causal").save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def interface(model_dir, tmp_path_factory):
    return FocalCodecInterface.from_hparams(
        source=str(model_dir), savedir=str(tmp_path_factory.mktemp("savedir"))
    )


def test_from_hparams_matches_from_pretrained(interface, model_dir, speech):
    codec = FocalCodec.from_pretrained(model_dir)
    wavs = torch.stack([speech[0][:24000], speech[1][:24000]])
    lens = torch.tensor([1.0, 0.7])
    toks = interface.encode_batch(wavs, lens)
    assert torch.equal(toks, codec.sig_to_toks(wavs, lens))
    toks_lens = interface.toks_lens(lens, wavs.shape[1])
    decoded = interface.decode_batch(toks, toks_lens)
    assert torch.equal(decoded, codec.toks_to_sig(toks, toks_lens))
    assert decoded.shape == (2, toks.shape[1] * 480)
    rec = interface(wavs, lens)
    assert rec.shape == (2, 36000) and torch.equal(rec, codec.sig_to_sig(wavs, lens))
    assert interface.sample_rate == 16000 and interface.sample_rate_output == 24000
    assert not any(p.requires_grad for p in interface.parameters())


def test_yaml_pointing_at_another_source(model_dir, tmp_path):
    """The official yamls name their weights' repository; overriding it with a
    local copy makes the same yaml work offline."""
    codec = FocalCodec.from_pretrained(model_dir)
    yaml_dir = tmp_path / "yamls"
    yaml_dir.mkdir()
    config = json.loads((model_dir / "config.json").read_text())
    text = hparams_yaml(FocalCodec.from_config(config), weights_source="someone/not-reachable")
    (yaml_dir / "tiny.yaml").write_text(text)
    loaded = FocalCodecInterface.from_hparams(
        source=str(yaml_dir),
        hparams_file="tiny.yaml",
        savedir=str(tmp_path / "savedir"),
        overrides={"weights_source": str(model_dir)},
    )
    sig = torch.randn(1, 6400)
    assert torch.equal(loaded.encode_batch(sig), codec.sig_to_toks(sig))


def test_from_hparams_with_official_layout_weights(tmp_path):
    """A local copy of an official repository (v0.0.1 keys) plus our yaml."""
    source = tmp_path / "copy"
    shutil.copytree(GOLDEN / "tiny_50hz_v001layout", source)
    config = json.loads((source / "config.json").read_text())
    (source / "hyperparams.yaml").write_text(hparams_yaml(FocalCodec.from_config(config)))
    loaded = FocalCodecInterface.from_hparams(source=str(source), savedir=str(tmp_path / "s"))
    reference = FocalCodec.from_pretrained(GOLDEN / "tiny_50hz")
    sig = torch.randn(1, 8000)
    assert torch.equal(loaded.encode_batch(sig), reference.sig_to_toks(sig))


def test_mismatched_weights_fail_loudly(model_dir, tmp_path):
    source = tmp_path / "bad"
    shutil.copytree(model_dir, source)
    shutil.copy(GOLDEN / "tiny_50hz" / "model.safetensors", source / "model.safetensors")
    with pytest.raises(CheckpointError, match="does not match"):
        FocalCodecInterface.from_hparams(source=str(source), savedir=str(tmp_path / "s"))


@pytest.mark.parametrize(
    "rate, channels, subtype",
    [
        (16000, 1, "PCM_16"),
        (8000, 1, "PCM_16"),
        (22050, 2, "PCM_24"),
        (44100, 2, "FLOAT"),
        (48000, 6, "PCM_16"),
    ],
)
def test_encode_file_any_rate_and_channels(interface, speech, tmp_path, rate, channels, subtype):
    sig = speech[2][:32000]
    resampled = resample(sig, 16000, rate)
    gains = torch.linspace(0.6, 1.4, channels)
    multi = resampled[:, None] * gains
    path = tmp_path / "input.wav"
    sf.write(path, multi.numpy(), rate, subtype=subtype)
    toks = interface.encode_file(path)
    stored = torch.from_numpy(sf.read(path, dtype="float32", always_2d=True)[0])
    expected_sig = resample(stored.mean(dim=1), rate, 16000)
    assert torch.equal(toks, interface.encode_batch(expected_sig[None]))
    assert toks.shape == (1, 100)  # 2 s at 50 Hz


def test_load_audio_matches_bundled_samples():
    sig = load_audio(LIBRISPEECH[0], 16000)
    data, rate = sf.read(LIBRISPEECH[0], dtype="float32")
    assert rate == 16000 and np.array_equal(sig.numpy(), data)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "Cannot read audio file"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "Cannot read audio file"),
        (b"this is not audio at all" * 100, "Cannot read audio file"),
    ],
)
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=message):
        load_audio(path, 16000)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(AudioError, match="No such audio file"):
        load_audio(tmp_path / "missing.wav", 16000)
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype="float32"), 16000)
    with pytest.raises(AudioError, match="has no samples"):
        load_audio(tmp_path / "empty.wav", 16000)


def test_non_finite_file(tmp_path):
    data = np.zeros(1600, dtype="float32")
    data[10] = np.nan
    sf.write(tmp_path / "nan.wav", data, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite"):
        load_audio(tmp_path / "nan.wav", 16000)
