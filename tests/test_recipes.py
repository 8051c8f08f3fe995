"""Every probe recipe runs in debug mode on tiny corpora made from the bundled
speech (see tests/recipe_corpora.py), with the tiny random-weight codec as
tokenizer: a few steps of overfitting on one batch must give finite, falling
training losses, and the test stage must run (metrics whose models cannot be
loaded offline are switched off)."""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import recipe_corpora
from tests.conftest import GOLDEN, ROOT

RECIPES = ROOT / "recipes"

TINY_SPEAKER_ENCODER = (
    "!new:speechbrain_focalcodec.probes.speaker_encoder.XVectorEncoder {source: null, config: "
    "{hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, "
    "conv_dim: [16, 16], conv_stride: [5, 4], conv_kernel: [10, 4], num_conv_pos_embeddings: 16, "
    "num_conv_pos_embedding_groups: 4, tdnn_dim: [16, 16], tdnn_kernel: [3, 1], "
    "tdnn_dilation: [1, 1], xvector_output_dim: 8}}"
)
SMALL_CONFORMER = ["--d_model", "64", "--d_ffn", "128", "--num_layers", "2", "--lr", "0.001"]
SMALL_LSTM = ["--hidden_size", "128", "--dropout", "0.0", "--lr", "0.003"]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpora")
    return {
        "LibriSpeech": recipe_corpora.librispeech(root),
        "IEMOCAP": recipe_corpora.iemocap(root),
        "VoiceBank": recipe_corpora.voicebank(root),
        "Libri2Mix": recipe_corpora.libri2mix(root),
    }


def run_recipe(recipe: str, data_folder: Path, output: Path, *overrides: str, epochs: int):
    """Runs ``train.py`` in debug mode (one batch per epoch); returns the train losses."""
    command = [
        sys.executable, "train.py", "hparams/train.yaml",
        "--data_folder", str(data_folder), "--output_folder", str(output),
        "--codec_source", str(GOLDEN / "tiny_50hz"), "--device", "cpu",
        "--num_workers", "0", "--max_grad_norm", "5", "--batch_size", "8",
        "--debug", "--debug_batches", "1", "--debug_epochs", str(epochs), *overrides,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        command, cwd=RECIPES / recipe, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-4000:]
    log = (output / "train_log.txt").read_text()
    losses = [float(x) for x in re.findall(r"train loss: ([-+.\deEinaf]+)", log)]
    assert len(losses) == epochs, log
    assert all(math.isfinite(loss) for loss in losses), log
    assert min(losses[-2:]) < 0.97 * losses[0], f"the loss does not fall: {losses}"
    assert re.search(r"Epoch loaded: \d+ - test loss: [\d.e+-]+", log), log
    return losses


@pytest.mark.slow
def test_asr(corpora, tmp_path):
    run_recipe(
        "LibriSpeech/ASR/focalcodec", corpora["LibriSpeech"], tmp_path,
        "--train_splits", "[train-clean-100]", *SMALL_LSTM, epochs=5,
    )  # fmt: skip
    assert "%WER" in (tmp_path / "wer.txt").read_text()
    assert (tmp_path / "save" / "tokens" / "train.csv").is_file()  # extracted tokens


@pytest.mark.slow
def test_speaker_id(corpora, tmp_path):
    run_recipe(
        "LibriSpeech/speaker_id/focalcodec", corpora["LibriSpeech"], tmp_path,
        "--splits", "[train-clean-100, dev-clean, test-clean]", "--num_classes", "2",
        "--extract_tokens", "False", *SMALL_LSTM, epochs=6,
    )  # fmt: skip
    assert not (tmp_path / "save" / "tokens").exists()  # tokenized on the fly


@pytest.mark.slow
def test_emotion_recognition(corpora, tmp_path):
    run_recipe(
        "IEMOCAP/emotion_recognition/focalcodec", corpora["IEMOCAP"], tmp_path,
        *SMALL_LSTM, epochs=6,
    )  # fmt: skip
    assert (tmp_path / "save" / "Session5M.csv").read_text().count("\n") == 2  # header + 1


@pytest.mark.slow
def test_enhancement(corpora, tmp_path):
    run_recipe(
        "Voicebank/enhancement/focalcodec", corpora["VoiceBank"], tmp_path,
        "--valid_speakers", "[p226]", *SMALL_CONFORMER, epochs=4,
    )  # fmt: skip
    assert [p.name for p in (tmp_path / "enhanced").iterdir()] == ["p232_001.wav"]


@pytest.mark.slow
def test_separation(corpora, tmp_path):
    run_recipe(
        "LibriMix/separation/focalcodec", corpora["Libri2Mix"], tmp_path,
        "--extract_tokens", "False", *SMALL_CONFORMER, epochs=4,
    )  # fmt: skip
    outputs = sorted(p.name for p in (tmp_path / "separated").iterdir())
    assert outputs == [f"84-121123-0005_251-118436-0005_s{i}.wav" for i in (1, 2)]


@pytest.mark.slow
def test_text_to_speech(corpora, tmp_path):
    run_recipe(
        "LibriSpeech/TTS/focalcodec", corpora["LibriSpeech"], tmp_path,
        "--train_splits", "[train-clean-100]", "--speaker_encoder", TINY_SPEAKER_ENCODER,
        "--speaker_dim", "8", *SMALL_CONFORMER, epochs=4,
    )  # fmt: skip
    # debug mode: one test batch, the shorter utterance first
    assert [p.name for p in (tmp_path / "generated").iterdir()] == ["251-118436-0005.wav"]
