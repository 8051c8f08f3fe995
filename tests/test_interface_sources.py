"""FocalCodecInterface.from_hparams with sources that fail or change: one-line
errors for downloads (not found, server error, offline), and a savedir used
before for another source or yaml is refreshed instead of serving stale files."""

import huggingface_hub.constants
import pytest
import torch

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.checkpoints import CheckpointError
from speechbrain_focalcodec.codec_config import hparams_yaml
from speechbrain_focalcodec.inference import FocalCodecInterface
from tests.conftest import GOLDEN
from tests.hub_mirror import serve

TINY = {
    "config.json": GOLDEN / "tiny_50hz" / "config.json",
    "model.safetensors": GOLDEN / "tiny_50hz" / "model.safetensors",
}


@pytest.fixture(scope="module")
def mirror():
    yield from serve({"someone/tiny": TINY}, failing={"someone/broken"})


@pytest.fixture
def hub(monkeypatch, mirror, tmp_path):
    import huggingface_hub.utils._http as http

    constants = huggingface_hub.constants
    monkeypatch.setattr(constants, "ENDPOINT", mirror.url)
    template = mirror.url + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setattr(http.time, "sleep", lambda seconds: None)
    return mirror


def yaml_dir(tmp_path, **weights):
    """A folder of yamls, one per entry: name -> weights source."""
    folder = tmp_path / "hparams"
    folder.mkdir(exist_ok=True)
    for name, (golden, source) in weights.items():
        codec = FocalCodec.from_pretrained(GOLDEN / golden)
        (folder / f"{name}.yaml").write_text(hparams_yaml(codec, weights_source=source))
    return folder


def one_line(call) -> str:
    with pytest.raises(CheckpointError) as error:
        call()
    assert "\n" not in str(error.value)
    return str(error.value)


def test_offline_weights(hub, monkeypatch, tmp_path):
    folder = yaml_dir(tmp_path, tiny=("tiny_50hz", "someone/tiny"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    message = one_line(
        lambda: FocalCodecInterface.from_hparams(
            source=str(folder), hparams_file="tiny.yaml", savedir=str(tmp_path / "s")
        )
    )
    assert "downloads are off" in message and "weights_source" in message


@pytest.mark.parametrize(
    "repo, expected", [("someone/typo", "was not found on"), ("someone/broken", "server error")]
)
def test_hub_failures(hub, tmp_path, repo, expected):
    folder = yaml_dir(tmp_path, tiny=("tiny_50hz", repo))
    message = one_line(
        lambda: FocalCodecInterface.from_hparams(
            source=str(folder), hparams_file="tiny.yaml", savedir=str(tmp_path / "s")
        )
    )
    assert expected in message
    # The yaml itself from a missing repository.
    message = one_line(
        lambda: FocalCodecInterface.from_hparams(source=repo, savedir=str(tmp_path / "t"))
    )
    assert message.startswith("Cannot get hyperparams.yaml") and expected in message


def test_weights_from_the_mirror(hub, tmp_path):
    folder = yaml_dir(tmp_path, tiny=("tiny_50hz", "someone/tiny"))
    interface = FocalCodecInterface.from_hparams(
        source=str(folder), hparams_file="tiny.yaml", savedir=str(tmp_path / "s")
    )
    reference = FocalCodec.from_pretrained(GOLDEN / "tiny_50hz")
    sig = torch.randn(1, 8000)
    assert torch.equal(interface.encode_batch(sig), reference.sig_to_toks(sig))


def test_savedir_reused_for_another_yaml(tmp_path):
    """The issue's case: source="hparams" for two yamls, one savedir."""
    folder = yaml_dir(
        tmp_path,
        first=("tiny_50hz", str(GOLDEN / "tiny_50hz")),
        second=("tiny_causal", str(GOLDEN / "tiny_causal")),
    )
    savedir = str(tmp_path / "pretrained")
    first = FocalCodecInterface.from_hparams(str(folder), "first.yaml", savedir=savedir)
    second = FocalCodecInterface.from_hparams(str(folder), "second.yaml", savedir=savedir)
    assert not first.codec.causal and second.codec.causal
    reference = FocalCodec.from_pretrained(GOLDEN / "tiny_causal")
    sig = torch.randn(1, 8000)
    assert torch.equal(second.encode_batch(sig), reference.sig_to_toks(sig))


def test_savedir_reused_for_another_source(tmp_path):
    """Two model directories with the default hyperparams.yaml name, one savedir."""
    sources = []
    for name in ("tiny_50hz", "tiny_causal"):
        directory = tmp_path / name
        FocalCodec.from_pretrained(GOLDEN / name).save_pretrained(directory)
        sources.append(str(directory))
    savedir = str(tmp_path / "pretrained")
    first = FocalCodecInterface.from_hparams(sources[0], savedir=savedir)
    second = FocalCodecInterface.from_hparams(sources[1], savedir=savedir)
    assert not first.codec.causal and second.codec.causal
    again = FocalCodecInterface.from_hparams(sources[0], savedir=savedir)
    assert not again.codec.causal


def test_local_folder_without_the_yaml(tmp_path):
    # An official-layout folder (config.json + model.safetensors, no yaml): one line
    # that says how to load it, not SpeechBrain's FileNotFoundError from the savedir.
    message = one_line(
        lambda: FocalCodecInterface.from_hparams(
            source=str(GOLDEN / "tiny_50hz"), savedir=str(tmp_path / "savedir")
        )
    )
    assert "hyperparams.yaml" in message and "FocalCodec.from_pretrained" in message


@pytest.mark.parametrize("source", ["missing", "tiny_50hz/config.json"])
def test_source_that_is_neither_folder_nor_repository_id(tmp_path, source):
    path = tmp_path / source if source == "missing" else GOLDEN / source
    message = one_line(
        lambda: FocalCodecInterface.from_hparams(source=str(path), savedir=str(tmp_path / "s"))
    )
    assert "neither a local folder nor a Hugging Face repository id" in message
