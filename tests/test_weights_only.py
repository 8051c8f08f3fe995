"""Tensor files are read weights-only whatever the environment says: with
TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 (which turns off torch's default), a pickle
that would run code is still refused, for checkpoints and for token files."""

import pytest
import torch

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.bitstream import TokenFileError, load_tokens
from speechbrain_focalcodec.checkpoints import CheckpointError, read_state_dict
from tests.conftest import GOLDEN

RAN = []


def run(message: str) -> None:
    """What a malicious file would run (pickled by reference)."""
    RAN.append(message)


class Payload:
    """Unpickling this calls ``run``."""

    def __reduce__(self):
        return (run, ("code ran",))


@pytest.fixture(autouse=True)
def no_weights_only_by_default(monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    RAN.clear()
    yield
    assert RAN == []


def test_the_environment_variable_does_turn_off_the_default(tmp_path):
    """Guard: the variable really makes a plain torch.load run the payload."""
    torch.save({"weights": Payload()}, tmp_path / "evil.pt")
    with pytest.warns(UserWarning, match="TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"):
        torch.load(tmp_path / "evil.pt")
    assert RAN == ["code ran"]
    RAN.clear()


def test_checkpoint(tmp_path):
    torch.save({"weights": Payload()}, tmp_path / "evil.ckpt")
    with pytest.raises(CheckpointError, match="Cannot read checkpoint"):
        read_state_dict(tmp_path / "evil.ckpt")
    codec = FocalCodec.from_pretrained(GOLDEN / "tiny_50hz")
    with pytest.raises(CheckpointError):
        codec.load_weights(tmp_path / "evil.ckpt")


def test_checkpoint_directory(tmp_path):
    (tmp_path / "config.json").write_bytes((GOLDEN / "tiny_50hz" / "config.json").read_bytes())
    torch.save({"state_dict": Payload()}, tmp_path / "model.pt")
    with pytest.raises(CheckpointError):
        FocalCodec.from_pretrained(tmp_path)


def test_token_file(tmp_path):
    torch.save(Payload(), tmp_path / "toks.pt")
    with pytest.raises(TokenFileError, match="cannot read token file"):
        load_tokens(tmp_path / "toks.pt")
