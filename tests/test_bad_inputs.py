"""The bad-input matrix: every bad file or tensor gets a one-line error with
exit status 1 (command line) or a typed exception (Python API); odd but valid
audio is encoded as documented in docs/streaming.md."""

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain_focalcodec.audio_files import AudioFileReader
from speechbrain_focalcodec.bitstream import TokenFileError, encode_bitstream, save_tokens
from speechbrain_focalcodec.cli import main
from speechbrain_focalcodec.long_audio import decode_long, encode_long
from speechbrain_focalcodec.voice_conversion import KNNVoiceConverter, LinearTransportConverter
from tests.conftest import GOLDEN, LIBRISPEECH, random_codec
from tests.test_streaming import _one_thread  # noqa: F401  (small tensors)

OFFLINE = str(GOLDEN / "tiny_50hz")
CAUSAL = str(GOLDEN / "tiny_causal")


@pytest.fixture(scope="module")
def speech_16k():
    sig, rate = sf.read(LIBRISPEECH[1], dtype="float32")
    assert rate == 16000
    return sig[:24000]


def write(path, sig, rate, subtype=None):
    sf.write(path, sig, rate, subtype=subtype)
    return path


def one_line_error(capsys, argv, message):
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("focalcodec: error: "), err
    assert message in lines[0], lines[0]


BAD_AUDIO = {
    "empty file": (lambda p, s: p.write_bytes(b""), "Cannot read audio file"),
    "no samples": (lambda p, s: write(p, np.zeros(0, np.float32), 16000), "no samples"),
    "NaN samples": (
        lambda p, s: write(p, np.where(np.arange(len(s)) == 99, np.nan, s), 16000, "FLOAT"),
        "NaN or infinite",
    ),
    "infinite samples": (
        lambda p, s: write(p, np.where(np.arange(len(s)) == 9, np.inf, s), 16000, "FLOAT"),
        "NaN or infinite",
    ),
    "text file": (lambda p, s: p.write_text("hello, I am not audio\n" * 50), "Cannot read"),
    "truncated WAV": (
        lambda p, s: p.write_bytes(write(p, s, 16000).read_bytes()[:30]),
        "Cannot read audio file",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_AUDIO))
def test_bad_audio_files(case, tmp_path, capsys, speech_16k):
    make, message = BAD_AUDIO[case]
    path = tmp_path / "bad.wav"
    make(path, speech_16k)
    one_line_error(
        capsys, ["encode", "--model", OFFLINE, str(path), str(tmp_path / "o.fcz")], message
    )
    one_line_error(capsys, ["stream", "--model", CAUSAL, str(path)], message)


ODD_AUDIO = {
    "a few samples": lambda s: (s[:7], 16000, None),
    "silence": lambda s: (np.zeros(8000, np.float32), 16000, None),
    "clipping": lambda s: (np.clip(8 * s, -1, 1), 16000, None),
    "beyond full scale (float file)": lambda s: (3 * s, 16000, "FLOAT"),
    "stereo": lambda s: (np.stack([s, -0.5 * s], axis=1), 16000, None),
    "6 channels": lambda s: (np.stack([s] * 6, axis=1), 16000, None),
    "8 kHz": lambda s: (s[::2], 8000, None),
    "22.05 kHz": lambda s: (
        np.interp(np.arange(0, len(s), 16000 / 22050), np.arange(len(s)), s),
        22050,
        None,
    ),
    "44.1 kHz": lambda s: (
        np.interp(np.arange(0, len(s), 16000 / 44100), np.arange(len(s)), s),
        44100,
        None,
    ),
    "48 kHz": lambda s: (np.repeat(s, 3), 48000, None),
    "int16": lambda s: (s, 16000, "PCM_16"),
    "int24": lambda s: (s, 16000, "PCM_24"),
    "float32": lambda s: (s, 16000, "FLOAT"),
    "float64": lambda s: (s, 16000, "DOUBLE"),
    "FLAC 24 bit": lambda s: (s, 16000, "PCM_24"),
}


@pytest.mark.parametrize("case", sorted(ODD_AUDIO))
def test_odd_but_valid_audio(case, tmp_path, capsys, speech_16k):
    """Any rate, channel count and sample type; tiny, silent or clipped
    signals: the tokens cover the duration and the output keeps it."""
    sig, rate, subtype = ODD_AUDIO[case](speech_16k)
    suffix = ".flac" if case.startswith("FLAC") else ".wav"
    path = write(tmp_path / f"odd{suffix}", sig.astype(np.float64), rate, subtype)
    duration = sf.info(path).duration
    for model, out_rate in ((OFFLINE, 16000), (CAUSAL, 24000)):
        out = tmp_path / "out.wav"
        argv = ["resynth", "--model", model, "--force", str(path), str(out)]
        assert main(argv) == 0, capsys.readouterr()
        rec, got_rate = sf.read(out, dtype="float32")
        assert got_rate == out_rate and np.isfinite(rec).all()
        assert abs(len(rec) - duration * out_rate) <= out_rate / 16000 * 2 + 1


def test_reader_matches_whole_file_resampling(tmp_path, speech_16k):
    from speechbrain_focalcodec.audio import load_audio

    for rate in (8000, 22050, 44100):
        sig = np.interp(
            np.arange(0, len(speech_16k), 16000 / rate), np.arange(len(speech_16k)), speech_16k
        )
        path = write(tmp_path / f"{rate}.wav", sig, rate, "FLOAT")
        reader = AudioFileReader(path, 16000)
        pieces = torch.cat([reader.read(s, s + 3001) for s in range(0, reader.num_samples, 3001)])
        whole = load_audio(path, 16000)
        assert pieces.shape == whole.shape and (pieces - whole).abs().max() < 1e-5


def test_bad_token_files(tmp_path, capsys, speech_16k):
    path = write(tmp_path / "speech.wav", speech_16k, 16000)
    fcz = tmp_path / "speech.fcz"
    assert main(["encode", "--model", OFFLINE, str(path), str(fcz)]) == 0
    data = fcz.read_bytes()
    flip = len(data) - 7  # a payload byte (the header holds the model name, of any length)
    cases = {
        "truncated": (data[:-5], "truncated"),
        "bit-flipped": (data[:flip] + bytes([data[flip] ^ 4]) + data[flip + 1 :], "checksum"),
        "not a token file": (b"RIFF" + data[4:], "bad magic"),
        "empty": (b"", "bad magic"),
    }
    for content, message in cases.values():
        fcz.write_bytes(content)
        one_line_error(
            capsys, ["decode", "--model", OFFLINE, str(fcz), str(tmp_path / "o.wav")], message
        )
    fcz.write_bytes(data)
    one_line_error(
        capsys, ["decode", "--model", CAUSAL, str(fcz), str(tmp_path / "o.wav")], "another model"
    )
    np.save(tmp_path / "big.npy", np.array([[0, 9000]]))
    one_line_error(
        capsys,
        ["decode", "--model", OFFLINE, str(tmp_path / "big.npy"), str(tmp_path / "o.wav")],
        "outside this model's codebook",
    )
    np.save(tmp_path / "float.npy", np.zeros((1, 5), np.float32))
    one_line_error(
        capsys,
        ["decode", "--model", OFFLINE, str(tmp_path / "float.npy"), str(tmp_path / "o.wav")],
        "must be integers",
    )
    one_line_error(
        capsys,
        ["decode", "--model", str(tmp_path), str(fcz), str(tmp_path / "o.wav")],
        "No config.json",
    )
    one_line_error(
        capsys,
        ["encode", "--model", OFFLINE, str(path), str(path), str(tmp_path / "x.fcz")],
        "2 inputs need an output folder",
    )


def test_python_api_errors():
    codec = random_codec("50hz")
    with pytest.raises(ValueError, match=r"\[0, 8192\)"):
        decode_long(codec, torch.tensor([[1, 8192]]))
    with pytest.raises(ValueError, match="batch of 2"):
        decode_long(codec, torch.zeros(2, 10, dtype=torch.long))
    with pytest.raises(ValueError, match="NaN"):
        encode_long(codec, torch.tensor([0.0, float("nan")] * 100))
    with pytest.raises(ValueError, match="segment"):
        encode_long(codec, torch.zeros(100), segment=0)
    with pytest.raises(ValueError, match="one utterance"):
        encode_bitstream(torch.zeros(2, 3, dtype=torch.long), codec, 100)
    with pytest.raises(TypeError, match="integer"):
        encode_bitstream(torch.zeros(1, 3), codec, 100)
    with pytest.raises(ValueError, match="needs the codec"):
        save_tokens("x.fcz", torch.zeros(1, 3, dtype=torch.long))
    converter = KNNVoiceConverter(torch.randn(20, 64))
    with pytest.raises(ValueError, match=r"\[\.\.\., frames, 64\]"):
        converter(torch.randn(1, 5, 32))
    with pytest.raises(TypeError, match="floating point"):
        converter(torch.zeros(1, 5, 64, dtype=torch.long))
    with pytest.raises(ValueError, match="NaN"):
        LinearTransportConverter(torch.full((10, 4), float("nan")), torch.randn(10, 4))
    with pytest.raises(ValueError, match="`source_feats`: .* at least 2 frames, got 1"):
        LinearTransportConverter(torch.randn(1, 4), torch.randn(10, 4))
    with pytest.raises(ValueError, match="`target_feats`: .* at least 2 frames, got 1"):
        LinearTransportConverter(torch.randn(10, 4), torch.randn(1, 4))
    assert issubclass(TokenFileError, ValueError)
