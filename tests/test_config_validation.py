"""Malformed and hostile checkpoints: every problem of a config.json or of the
weights is a one-line CheckpointError naming the field, raised before anything
large is allocated."""

import json
import shutil
import stat

import pytest
import torch
from safetensors.torch import load_file, save_file

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.checkpoints import CheckpointError
from speechbrain_focalcodec.codec_config import MAX_PARAMETERS, validate_config
from speechbrain_focalcodec.files import OutputError, current_umask
from tests.conftest import GOLDEN


def golden_config() -> dict:
    return json.loads((GOLDEN / "tiny_50hz" / "config.json").read_text())


def checkpoint(tmp_path, config_bytes: bytes):
    (tmp_path / "config.json").write_bytes(config_bytes)
    shutil.copy(GOLDEN / "tiny_50hz" / "model.safetensors", tmp_path)
    return tmp_path


def load_error(tmp_path, config_bytes: bytes) -> str:
    with pytest.raises(CheckpointError) as error:
        FocalCodec.from_pretrained(checkpoint(tmp_path, config_bytes))
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b'{"encoder_config": ', "invalid JSON"),
        (b"[1, 2]", "must hold a JSON object"),
        (b"[" * 100000, "invalid JSON"),
        (b" " * (2 << 20), "larger than"),
    ],
)
def test_unreadable_config(tmp_path, data, expected):
    assert expected in load_error(tmp_path, data)


def edited(edit) -> bytes:
    config = golden_config()
    edit(config)
    return json.dumps(config).encode()


def set_arg(slot, key, value):
    return lambda config: config[f"{slot}_config"].__setitem__(key, value)


@pytest.mark.parametrize(
    "edit, field",
    [
        # The cases of the issue: a list where a name goes, stride 0, codebook 2^40.
        (lambda c: c.update(decoder_name=["Vocos"]), "decoder_name"),
        (lambda c: c.update(encoder_config=[["dim", 64]]), "encoder_config must be a JSON object"),
        (set_arg("encoder", "strides", [5, 2, 0, 2, 2, 2, 2]), "encoder_config.strides[2]"),
        (set_arg("quantizer", "codebook_size", 2**40), "quantizer_config.codebook_size"),
        # More of the same kinds: types, ranges, lengths, relations, sizes.
        (set_arg("quantizer", "codebook_size", 1000), "power of two"),
        (set_arg("quantizer", "codebook_size", "8192"), "quantizer_config.codebook_size"),
        (set_arg("quantizer", "codebook_size", True), "quantizer_config.codebook_size"),
        (set_arg("quantizer", "codebook_size", 1), "quantizer_config.codebook_size"),
        (set_arg("encoder", "kernel_sizes", [10, 3, 3, -3, 3, 2, 2]), "kernel_sizes[3]"),
        (set_arg("encoder", "kernel_sizes", [10, 3]), "encoder_config.kernel_sizes has 2"),
        (set_arg("encoder", "hidden_dims", []), "encoder_config.hidden_dims must be a list"),
        (set_arg("encoder", "hidden_dims", 32), "encoder_config.hidden_dims must be a list"),
        (set_arg("encoder", "dim", 10**9), "encoder_config.dim"),
        (set_arg("encoder", "dim", 64.0), "encoder_config.dim must be an integer"),
        (set_arg("encoder", "num_heads", 5), "multiple of encoder_config.num_heads"),
        (set_arg("encoder", "num_layers", 0), "encoder_config.num_layers"),
        (set_arg("encoder", "dropout", 1.5), "encoder_config.dropout"),
        (set_arg("encoder", "causal", "yes"), "encoder_config.causal must be true or false"),
        (set_arg("encoder", "lookahead_size", -1), "encoder_config.lookahead_size"),
        (set_arg("compressor", "downscale_factors", [1, 0, 1]), "downscale_factors[1]"),
        (set_arg("compressor", "hidden_dims", [48, 32]), "compressor_config.hidden_dims has 2"),
        (set_arg("compressor", "layerscale_init", float("nan")), "layerscale_init"),
        (set_arg("compressor", "tanhscale_init", float("inf")), "tanhscale_init"),
        (set_arg("compressor", "focal_level", 10**6), "compressor_config.focal_level"),
        (set_arg("decompressor", "upscale_factors", [1, 1, 10**9]), "upscale_factors[2]"),
        (set_arg("decompressor", "window_size", 0), "decompressor_config.window_size"),
        (set_arg("decoder", "hop_length", 0), "decoder_config.hop_length"),
        (set_arg("decoder", "hop_length", 4096), "hop_length must not exceed"),
        (set_arg("decoder", "n_fft", 2**40), "decoder_config.n_fft"),
        (set_arg("decoder", "layerscale_init", "big"), "decoder_config.layerscale_init"),
        (set_arg("decoder", "unknown", 1), "decoder_config.unknown is not an argument of Vocos"),
        (lambda c: c.update(quantizer_config=None, quantizer_name=7), "quantizer_name 7"),
        (lambda c: c["decompressor_config"].update(input_dim=12), "Incompatible components"),
    ],
)
def test_invalid_field_is_named(tmp_path, edit, field):
    message = load_error(tmp_path, edited(edit))
    assert message.startswith("Invalid codec config: ")
    assert field in message


def test_every_problem_is_reported(tmp_path):
    def edit(config):
        config["encoder_config"]["strides"] = [0] * 7
        config["quantizer_config"]["codebook_size"] = 3

    message = load_error(tmp_path, edited(edit))
    assert "encoder_config.strides[0]" in message and "codebook_size" in message


def test_parameter_budget_is_checked_without_allocating():
    """Each size within its bound, the product far beyond: refused after a meta build."""
    config = golden_config()
    config["encoder_config"].update(dim=16384, ffn_dim=16384, num_layers=256, num_heads=16)
    config["compressor_config"]["input_dim"] = 16384
    config["decompressor_config"]["output_dim"] = 16384
    config["decoder_config"]["input_dim"] = 16384
    with pytest.raises(CheckpointError, match=f"more than the {MAX_PARAMETERS:,}"):
        FocalCodec.from_config(config)


def test_official_configs_validate():
    for path in sorted((GOLDEN / "manifests").glob("focalcodec_*.json")):
        components = validate_config(json.loads(path.read_text())["config"])
        assert set(components) == {"encoder", "compressor", "quantizer", "decompressor", "decoder"}


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda t: t.fill_(float("nan")), "holds NaN or infinite values"),
        (lambda t: t.fill_(float("inf")), "holds NaN or infinite values"),
        (lambda t: t.round().to(torch.int32), "has dtype int32"),
        (lambda t: t.to(torch.int64), "has dtype int64"),
        (lambda t: t > 0, "has dtype bool"),
    ],
)
def test_invalid_weights_are_refused(tmp_path, spoil, message):
    state = load_file(str(GOLDEN / "tiny_50hz" / "model.safetensors"))
    key = "compressor.out_proj.weight"
    state[key] = spoil(state[key].clone())
    shutil.copy(GOLDEN / "tiny_50hz" / "config.json", tmp_path)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=f"Invalid weights: {key} {message}"):
        FocalCodec.from_pretrained(tmp_path)
    codec = FocalCodec.from_pretrained(GOLDEN / "tiny_50hz")
    with pytest.raises(CheckpointError, match="Invalid weights"):
        codec.load_weights(tmp_path / "model.safetensors")


# ------------------------------------------------------------- save_pretrained
def test_save_pretrained_permissions(tmp_path):
    codec = FocalCodec.from_pretrained(GOLDEN / "tiny_causal")
    codec.save_pretrained(tmp_path / "out")
    for name in ("config.json", "hyperparams.yaml", "model.safetensors"):
        mode = stat.S_IMODE((tmp_path / "out" / name).stat().st_mode)
        assert mode == 0o644 & ~current_umask(), (name, oct(mode))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def disk_full(*args, **kwargs):
    import errno

    raise OSError(errno.ENOSPC, "No space left on device")


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    import safetensors.torch

    codec = FocalCodec.from_pretrained(GOLDEN / "tiny_causal")
    monkeypatch.setattr(safetensors.torch, "save_file", disk_full)
    with pytest.raises(OutputError, match="No space left on device"):
        codec.save_pretrained(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import safetensors.torch

    old = FocalCodec.from_pretrained(GOLDEN / "tiny_causal")
    old.save_pretrained(tmp_path / "out")
    (tmp_path / "out" / "README.md").write_text("kept")
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    new = FocalCodec.from_pretrained(GOLDEN / "tiny_50hz")
    monkeypatch.setattr(safetensors.torch, "save_file", disk_full)
    with pytest.raises(OutputError, match="No space left on device"):
        new.save_pretrained(tmp_path / "out")
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    monkeypatch.undo()
    new.save_pretrained(tmp_path / "out")
    assert not FocalCodec.from_pretrained(tmp_path / "out").causal
    assert (tmp_path / "out" / "README.md").read_text() == "kept"


def test_dependencies_point_one_way():
    """checkpoints.py (files), codec_config.py (components) and hub.py never import the
    codec, and codec.py imports them at the top, not inside methods."""
    import ast

    from tests.conftest import ROOT

    def imported(name):
        tree = ast.parse((ROOT / "speechbrain_focalcodec" / name).read_text())
        found = []
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                found += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                found += [a.name for a in node.names]
        return tree, found

    for name in ("checkpoints.py", "codec_config.py", "hub.py"):
        _, found = imported(name)
        assert not [m for m in found if m.startswith("speechbrain_focalcodec.codec.")]
        assert "speechbrain_focalcodec.codec" not in found, name
    tree, _ = imported("codec.py")
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef):
            inner = [n for n in ast.walk(function) if isinstance(n, (ast.Import, ast.ImportFrom))]
            modules = [getattr(n, "module", None) or "" for n in inner]
            assert not [m for m in modules if "checkpoints" in m or "codec_config" in m]
