"""The FocalCodec-Stream training recipe end to end, as users run it (subprocesses).

Tiny configurations (hparams/tiny_<stage>.yaml) on a few bundled utterances:
the five stages chained in SpeechBrain's debug mode (2 epochs of 2 batches),
the exported causal codec loaded through both APIs and streamed chunk by
chunk against offline coding, the one-line refusals of missing or mismatched
stage inputs, DDP with torchrun (gloo, 2 CPU processes) for a distillation
stage and the joint stage, a run killed mid-training and resumed by
re-running the same command, and the bundled demo.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import pytest
import torch

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.inference import FocalCodecInterface
from speechbrain_focalcodec.training.stage_inputs import (
    StageInputError,
    load_stage_modules,
    stage_checkpoint,
)
from speechbrain_focalcodec.training.stream_check import (
    compare_stream_offline,
    compare_with_official,
)
from speechbrain_focalcodec.training.stream_export import export_stream_codec
from speechbrain_focalcodec.training.stream_export import main as export_main
from speechbrain_focalcodec.training.train_log import read_train_log
from tests.conftest import ROOT
from tests.recipe_training.conftest import (
    SPLIT_ARGS,
    free_port,
    kill_and_resume,
    recipe_env,
    run,
)

STREAM = ROOT / "recipes" / "LibriTTS" / "focalcodec-stream"
DEBUG = ["--debug", "--debug_persistently"]
METRICS = {
    "wavenext": "mel_l1",
    "posemb": "posemb_mse",
    "wavlm": "layer_mse",
    "bsq": "feature_mse",
    "joint": "feature_mse",
}


def stream_command(
    stage: str, output: Path, data: Path, *args: str, encoder: Optional[Path] = None
) -> List[str]:
    """``python train.py hparams/tiny_<stage>.yaml ...`` on ``data`` writing to ``output``;
    the random teacher is kept in ``encoder`` (default: next to ``output``)."""
    encoder = encoder or output.parent / "encoder"
    encoder = [] if stage == "bsq" else [f"--encoder_folder={encoder}"]
    return [
        sys.executable,
        str(STREAM / "train.py"),
        str(STREAM / "hparams" / f"tiny_{stage}.yaml"),
        f"--data_folder={data}",
        f"--output_folder={output}",
        *encoder,
        "--device=cpu",
        "--noprogressbar",
        *SPLIT_ARGS,
        *args,
    ]


def _fails_with(command: List[str]) -> str:
    """Runs a command that must stop with one line; returns that line."""
    result = subprocess.run(command, env=recipe_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def stages(audio_folder, tmp_path_factory):
    """The five tiny stages chained in debug mode; the joint stage exports the codec
    (augmented training audio there, to exercise DropFreq/DropChunk)."""
    root = tmp_path_factory.mktemp("stream")
    folders = {name: root / name for name in METRICS}
    needs = {
        "wavenext": ["--adversarial_start_step=1"],  # a warm-up step, then GAN steps
        "posemb": [],
        "wavlm": [f"--posemb_folder={folders['posemb']}"],
        "bsq": [f"--wavlm_folder={folders['wavlm']}"],
        "joint": [
            f"--wavlm_folder={folders['wavlm']}",
            f"--bsq_folder={folders['bsq']}",
            f"--wavenext_folder={folders['wavenext']}",
            "--augment=True",
        ],
    }
    for name, extra in needs.items():
        run(stream_command(name, folders[name], audio_folder, *DEBUG, *extra))
    return folders


def _epochs(folder: Path) -> list:
    return [r for r in read_train_log(folder / "train_log.txt") if "valid" in r]


def test_every_stage_trains_in_debug_mode(stages):
    teachers = set()
    for name, folder in stages.items():
        epochs = _epochs(folder)
        assert [r["meta"]["epoch"] for r in epochs] == [1.0, 2.0], name
        assert 2 <= epochs[-1]["meta"]["steps"] <= 4, name  # at most 2 batches per epoch
        assert METRICS[name] in epochs[-1]["valid"], name
        assert "test" in read_train_log(folder / "train_log.txt")[-1], name
        record = json.loads((folder / "stage.json").read_text())
        assert record["stage"] == name and record["best_key"] == METRICS[name]
        teachers.add(record["teacher_sha256"])
    assert len(teachers) == 1 and None not in teachers  # one teacher for all stages
    layers = _epochs(stages["wavlm"])[-1]["valid"]
    assert {"mse_layer1", "mse_layer2"} <= set(layers)
    # The weighted mean of the per-layer MSEs, weights 0.5 and 1.0 (tiny_wavlm.yaml).
    expected = (0.5 * layers["mse_layer1"] + 1.0 * layers["mse_layer2"]) / 2
    assert layers["layer_mse"] == pytest.approx(expected, rel=1e-3)
    bsq = _epochs(stages["bsq"])[-1]["valid"]
    assert bsq["bitrate_kbps"] == 0.6 and 0 < bsq["code_usage"] <= 100


def _best(folder: Path, stage: str, name: str) -> dict:
    checkpoint = stage_checkpoint(folder, stage)
    return torch.load(checkpoint.path / f"{name}.ckpt", weights_only=True)


def test_distilled_positional_embedding_stays_frozen(stages):
    posemb = _best(stages["posemb"], "posemb", "posemb")
    student = _best(stages["wavlm"], "wavlm", "causal_encoder")
    for key, value in posemb.items():
        assert torch.equal(student[f"encoder.positional_embedding.{key}"], value)
    joint = _best(stages["joint"], "joint", "causal_encoder")
    for key in student:
        if key.startswith(("encoder.positional_embedding.", "encoder.relative_embedding.")):
            assert torch.equal(joint[key], student[key])
    assert any(not torch.equal(joint[k], student[k]) for k in student)  # the rest trains


def test_exported_codec_loads_and_streams_like_offline(stages, speech, tmp_path):
    codec_dir = stages["joint"] / "codec"
    codec = FocalCodec.from_pretrained(codec_dir)
    assert codec.causal and codec.latency == 80.0 and codec.codebook_size == 4096
    config = json.loads((codec_dir / "config.json").read_text())
    assert (config["encoder_name"], config["decoder_name"]) == ("WavLM", "WaveNeXt")
    assert config["decompressor_config"]["lookahead_size"] == 3
    interface = FocalCodecInterface.from_hparams(source=str(codec_dir), savedir=str(tmp_path))
    sig = speech[3][None, :32000]
    with torch.no_grad():
        toks = codec.sig_to_toks(sig)
        assert torch.equal(interface.encode_batch(sig), toks)
    for utterance in (speech[0][None, :40000], speech[5][None, :27777]):
        check = compare_stream_offline(codec, utterance)
        assert check["tokens_equal"] == 1.0 and check["stream_tokens"] == check["tokens"]
        assert check["max_abs_diff"] < 1e-4
    # With a checkout of the official implementation (as benchmarks' --reference), it runs
    # the exported directory too: same tokens, same decoded signals.
    reference = os.environ.get("FOCALCODEC_REFERENCE")
    if reference:
        official = compare_with_official(codec_dir, reference, [speech[0][None], speech[7][None]])
        assert official["tokens_equal"] == 1.0 and official["max_abs_diff"] < 1e-4
    # The weights are the best checkpoints of the joint and wavenext stages.
    provenance = json.loads((codec_dir / "training.json").read_text())
    for stage, names in (
        ("joint", {"causal_encoder": "encoder", "compressor": "compressor"}),
        ("wavenext", {"decoder": "decoder"}),
    ):
        checkpoint = Path(provenance[stage]["checkpoint"])
        for saved_name, part in names.items():
            saved = torch.load(checkpoint / f"{saved_name}.ckpt", weights_only=True)
            exported = getattr(codec, part).state_dict()
            assert all(torch.equal(saved[key], exported[key]) for key in saved)


def test_missing_or_mismatched_stage_inputs_stop_with_one_line(stages, audio_folder, tmp_path):
    line = _fails_with(stream_command("wavlm", tmp_path / "a", audio_folder))
    assert line == (
        "error: Stage wavlm needs the output folder of stage posemb: pass --posemb_folder=<folder>"
    )
    wrong = stream_command(
        "wavlm", tmp_path / "b", audio_folder, f"--posemb_folder={stages['bsq']}"
    )
    assert _fails_with(wrong).endswith("holds the bsq stage, not the posemb stage")
    gone = stream_command("bsq", tmp_path / "c", audio_folder, f"--wavlm_folder={tmp_path / 'x'}")
    assert _fails_with(gone).endswith("does not exist")
    # A joint stage with another codebook cannot start from this bsq stage.
    other = stream_command(
        "joint",
        tmp_path / "d",
        audio_folder,
        f"--wavlm_folder={stages['wavlm']}",
        f"--bsq_folder={stages['bsq']}",
        "--codebook_size=2048",
        "--code_dim=11",
    )
    line = _fails_with(other)
    assert "size mismatch for" in line and "different architecture" in line
    # A stage trained with another teacher.
    copy = tmp_path / "posemb"
    shutil.copytree(stages["posemb"], copy)
    record = json.loads((copy / "stage.json").read_text())
    record["teacher_sha256"] = "0" * 64
    (copy / "stage.json").write_text(json.dumps(record))
    with pytest.raises(StageInputError, match="another full-context teacher"):
        load_stage_modules(copy, "posemb", {}, teacher_sha256="1" * 64)
    ckpt = next((copy / "save").glob("CKPT+*"))  # also when given one of its checkpoints
    with pytest.raises(StageInputError, match="another full-context teacher"):
        load_stage_modules(ckpt, "posemb", {}, teacher_sha256="1" * 64)
    # A checkpoint folder given by path works as the output folder does.
    checkpoint = stage_checkpoint(stages["posemb"], "posemb")
    assert stage_checkpoint(checkpoint.path, "posemb").path == checkpoint.path
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StageInputError, match="neither an output folder"):
        stage_checkpoint(empty, "posemb")


def test_export_command_refuses_stages_of_different_teachers(stages, tmp_path):
    copy = tmp_path / "wavenext"
    shutil.copytree(stages["wavenext"], copy)
    record = json.loads((copy / "stage.json").read_text())
    record["teacher_sha256"] = "0" * 64
    (copy / "stage.json").write_text(json.dumps(record))
    args = [str(stages["joint"]), str(copy), str(tmp_path / "codec")]
    assert export_main(args) == 1 and not (tmp_path / "codec").exists()
    assert export_main([str(stages["joint"]), str(stages["bsq"]), str(tmp_path / "c")]) == 1
    codec = export_stream_codec(stages["joint"], stages["wavenext"], tmp_path / "again")
    assert (tmp_path / "again" / "model.safetensors").is_file() and codec.causal


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["wavlm", "joint"])
def test_ddp_two_processes_gloo(stages, audio_folder, tmp_path, stage):
    output = tmp_path / stage
    inputs = {
        "wavlm": [f"--posemb_folder={stages['posemb']}"],
        "joint": [f"--wavlm_folder={stages['wavlm']}", f"--bsq_folder={stages['bsq']}"],
    }[stage]
    command = stream_command(
        stage,
        output,
        audio_folder,
        *inputs,
        "--distributed_backend=gloo",
        "--number_of_epochs=1",
        "--train_batch_size=2",
        "--dynamic_batching=False",
        encoder=stages["posemb"].parent / "encoder",
    )
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={free_port()}",
    ]
    result = run(torchrun + command[1:])
    # 6 training utterances, 2 per batch: 3 steps for one process, 2 when split over two.
    assert _epochs(output)[0]["meta"]["steps"] == 2.0
    assert "Traceback" not in result.stderr
    assert len(list((output / "save").glob("CKPT+*"))) == 1


@pytest.mark.slow
def test_killed_stage_resumes_when_rerun(stages, audio_folder, tmp_path):
    output = tmp_path / "wavlm"
    command = stream_command(
        "wavlm",
        output,
        audio_folder,
        f"--posemb_folder={stages['posemb']}",
        "--number_of_epochs=2",
        "--ckpt_interval_steps=1",
        "--dynamic_batching=False",
        "--train_batch_size=1",
        encoder=stages["posemb"].parent / "encoder",
    )
    kill_and_resume(command, output / "save")
    epochs = _epochs(output)
    # Every epoch logged once; 6 utterances x 2 epochs, none lost or repeated.
    assert [r["meta"]["epoch"] for r in epochs] == [1.0, 2.0]
    assert epochs[-1]["meta"]["steps"] == 12.0


@pytest.mark.slow
def test_demo_trains_five_stages_exports_and_streams(audio_folder, tmp_path):
    """The bundled demo with the CI schedule (--quick: debug mode in every stage)."""
    output = tmp_path / "demo"
    command = [
        sys.executable,
        str(STREAM / "demo.py"),
        f"--output_folder={output}",
        f"--data_folder={audio_folder}",
        "--quick",
        *[f"--{name}_args={' '.join(SPLIT_ARGS)}" for name in METRICS],
    ]
    reference = os.environ.get("FOCALCODEC_REFERENCE")
    if reference:
        command.append(f"--reference={reference}")
    run(command, timeout=900)
    summary = json.loads((output / "summary.json").read_text())
    assert [s["name"] for s in summary["stages"]] == list(METRICS)
    for stage in summary["stages"]:
        assert stage["metric"] == METRICS[stage["name"]] and stage["epochs"] == 2
        assert stage["first"] > 0 and stage["last"] > 0 and stage["seconds"] > 0
    assert summary["stream_vs_offline"]["tokens_equal"] == 1.0
    assert summary["stream_vs_offline"]["max_abs_diff"] < 1e-4
    for name in ("reconstruction.wav", "spectrograms.png", "codec/model.safetensors"):
        assert (output / name).is_file()
    codec = FocalCodec.from_pretrained(output / "codec")
    assert codec.sample_rate_output == 24000
    if reference:
        assert summary["official"]["tokens_equal"] == 1.0
        assert summary["official"]["max_abs_diff"] < 1e-4
