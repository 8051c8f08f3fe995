"""Loading and saving checkpoints: both official layouts, the Hugging Face Hub
code path, strictness and corrupt files."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.checkpoints import CheckpointError, read_state_dict
from speechbrain_focalcodec.codec_config import codec_config
from tests.conftest import GOLDEN, random_codec


def hub_cache(tmp_path, repo_id: str, files: dict):
    """Lays out a Hugging Face cache holding one snapshot of ``repo_id``."""
    cache = tmp_path / "hub"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for name, source in files.items():
        shutil.copy(source, snapshot / name)
    return cache


def test_v001_layout_loads_the_same_weights():
    current = FocalCodec.from_pretrained(GOLDEN / "tiny_50hz").state_dict()
    legacy = FocalCodec.from_pretrained(GOLDEN / "tiny_50hz_v001layout").state_dict()
    assert sorted(current) == sorted(legacy)
    assert all(torch.equal(current[key], legacy[key]) for key in current)
    raw = load_file(str(GOLDEN / "tiny_50hz_v001layout" / "model.safetensors"))
    assert "encoder.encoder.layers.0.attention.q_proj.weight" in raw and "quantizer.mask" in raw


def test_local_json_path_loads_sibling_weights(tmp_path):
    shutil.copy(GOLDEN / "tiny_causal" / "config.json", tmp_path / "model.json")
    shutil.copy(GOLDEN / "tiny_causal" / "model.safetensors", tmp_path / "model.safetensors")
    codec = FocalCodec.from_pretrained(tmp_path / "model.json")
    assert codec.causal and not codec.training


def test_hub_download_code_path(tmp_path):
    """`owner/name` goes through huggingface_hub (here from its offline cache)."""
    cache = hub_cache(
        tmp_path,
        "someone/focalcodec_tiny",
        {
            "config.json": GOLDEN / "tiny_50hz" / "config.json",
            "model.safetensors": GOLDEN / "tiny_50hz" / "model.safetensors",
        },
    )
    codec = FocalCodec.from_pretrained(
        "someone/focalcodec_tiny", cache_dir=str(cache), local_files_only=True
    )
    reference = FocalCodec.from_pretrained(GOLDEN / "tiny_50hz")
    sig = torch.randn(1, 8000)
    assert torch.equal(codec.sig_to_toks(sig), reference.sig_to_toks(sig))


def test_unreachable_repo_error_lists_official_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="lucadellalib/focalcodec_50hz"):
        FocalCodec.from_pretrained(
            "someone/missing", cache_dir=str(tmp_path), local_files_only=True
        )


def test_not_a_source():
    with pytest.raises(CheckpointError, match="neither a local checkpoint"):
        FocalCodec.from_pretrained("no such thing")


def test_save_pretrained_roundtrip(tmp_path):
    codec = random_codec("25hz")
    codec.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["compressor_name"] == "FocalEncoder" and config["decoder_name"] == "Vocos"
    assert config == codec_config(codec)
    loaded = FocalCodec.from_pretrained(tmp_path)
    sig = torch.randn(2, 12000)
    assert torch.equal(loaded.sig_to_toks(sig), codec.sig_to_toks(sig))
    assert torch.equal(loaded.sig_to_sig(sig), codec.sig_to_sig(sig))


def test_weights_only_torch_file(tmp_path):
    codec = random_codec("causal")
    torch.save(codec.state_dict(), tmp_path / "weights.ckpt")
    other = random_codec("causal", seed=1)
    other.load_weights(tmp_path / "weights.ckpt")
    assert all(
        torch.equal(a, b) for a, b in zip(codec.state_dict().values(), other.state_dict().values())
    )


CALLS = []


def record_call(message: str) -> None:
    """What a malicious checkpoint would run (pickled by reference)."""
    CALLS.append(message)


class Payload:
    """Unpickling this calls ``record_call``."""

    def __reduce__(self):
        return (record_call, ("unpickled",))


def test_pickled_objects_are_refused(tmp_path):
    """Arbitrary pickles are not executed: torch files load weights-only."""
    torch.save({"weights": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="Cannot read checkpoint"):
        read_state_dict(tmp_path / "evil.pt")
    assert CALLS == []


def test_mismatched_checkpoint_names_keys(tmp_path):
    """Causal weights into a non-causal architecture: missing and unexpected keys."""
    codec = FocalCodec.from_pretrained(GOLDEN / "tiny_50hz")
    with pytest.raises(CheckpointError) as error:
        codec.load_weights(GOLDEN / "tiny_causal" / "model.safetensors")
    message = str(error.value)
    for kind in ("missing", "unexpected", "wrong shape"):
        assert f" {kind}: " in message
    assert "checkpoint [48] vs model [32]" in message


def test_missing_and_extra_tensors(tmp_path):
    state = load_file(str(GOLDEN / "tiny_50hz" / "model.safetensors"))
    del state["compressor.out_proj.bias"]
    state["decoder.extra"] = torch.zeros(1)
    save_file(state, str(tmp_path / "broken.safetensors"))
    codec = FocalCodec.from_pretrained(GOLDEN / "tiny_50hz")
    with pytest.raises(CheckpointError, match=r"1 missing: compressor.out_proj.bias"):
        codec.load_weights(tmp_path / "broken.safetensors")
    with pytest.raises(CheckpointError, match=r"1 unexpected: decoder.extra"):
        codec.load_weights(tmp_path / "broken.safetensors")


@pytest.mark.parametrize("cut", [0, 8, 100, -1000])
def test_truncated_weights_file(tmp_path, cut):
    data = (GOLDEN / "tiny_50hz" / "model.safetensors").read_bytes()
    (tmp_path / "config.json").write_text((GOLDEN / "tiny_50hz" / "config.json").read_text())
    (tmp_path / "model.safetensors").write_bytes(data[:cut])
    with pytest.raises(CheckpointError):
        FocalCodec.from_pretrained(tmp_path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c.update(decoder_name="HiFiGAN"), "decoder_name 'HiFiGAN' is not supported"),
        (lambda c: c["encoder_config"].update(num_layer=2), "encoder_config.num_layer is not an"),
        (lambda c: c.update(extra_config={}), "unknown entry 'extra_config'"),
        (lambda c: c["quantizer_config"].update(codebook_size=1000), "power of two"),
        (lambda c: c["decompressor_config"].update(input_dim=12), "Incompatible components"),
    ],
)
def test_invalid_config(tmp_path, edit, message):
    config = json.loads((GOLDEN / "tiny_50hz" / "config.json").read_text())
    edit(config)
    (tmp_path / "config.json").write_text(json.dumps(config))
    shutil.copy(GOLDEN / "tiny_50hz" / "model.safetensors", tmp_path)
    with pytest.raises((CheckpointError, ValueError), match=message):
        FocalCodec.from_pretrained(tmp_path)


def test_corrupt_config(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    shutil.copy(GOLDEN / "tiny_50hz" / "model.safetensors", tmp_path)
    with pytest.raises(CheckpointError, match="Cannot read codec config .*invalid JSON"):
        FocalCodec.from_pretrained(tmp_path)


def test_missing_weights(tmp_path):
    shutil.copy(GOLDEN / "tiny_50hz" / "config.json", tmp_path)
    with pytest.raises(CheckpointError, match="No model.safetensors or model.pt"):
        FocalCodec.from_pretrained(tmp_path)
