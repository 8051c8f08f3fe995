"""The FocalCodec training recipe end to end, as users run it (subprocesses).

SpeechBrain recipe-test style: tiny configurations (hparams/tiny_stage*.yaml),
a few bundled utterances, debug flags and a few steps of each stage; DDP with
torchrun (gloo, 2 CPU processes); a run killed mid-training and resumed by
re-running the same command; the exported codec loaded through both APIs.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from speechbrain.utils.checkpoints import Checkpointer

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.audio import load_audio
from speechbrain_focalcodec.inference import FocalCodecInterface
from tests.recipe_training.conftest import (
    RECIPE,
    free_port,
    kill_and_resume,
    recipe_env,
    run,
    train_command,
)

METRICS = "[utmos,dwer,speaker_similarity]"


@pytest.fixture(scope="module")
def demo(audio_folder, tmp_path_factory):
    """The bundled demo (both stages, export, resynthesis) on a few utterances.

    Both stages run with SpeechBrain's debug flags (2 epochs of 2 batches),
    keeping their checkpoints (``--debug_persistently``) for the export;
    stage 2 in bf16 autocast (the mixed-precision switch; fp16 needs a GPU)
    and with the model-based metrics on (offline: switched off), adversarial
    after one log-mel warm-up step.
    """
    output = tmp_path_factory.mktemp("demo")
    common = "--debug --debug_persistently --noprogressbar --valid_ratio=0.2 --test_ratio=0.1"
    result = run(
        [
            sys.executable,
            str(RECIPE / "demo.py"),
            f"--output_folder={output}",
            f"--data_folder={audio_folder}",
            f"--stage1_args={common}",
            f"--stage2_args={common} --precision=bf16 --model_metrics={METRICS} "
            "--adversarial_start_step=1",
        ]
    )
    return output, result.stdout + result.stderr


def _records(recipe, folder):
    return recipe.train_log.read_train_log(Path(folder) / "train_log.txt")


@pytest.mark.slow
def test_demo_trains_both_stages_and_resynthesizes(recipe, demo):
    output, stdout = demo
    for stage, keys in (
        ("stage1", {"feature_mse", "entropy_loss", "code_usage", "code_entropy", "bitrate_kbps"}),
        ("stage2", {"mel_l1"}),
    ):
        records = _records(recipe, output / stage)
        epochs = [r for r in records if "valid" in r]
        assert [r["meta"]["epoch"] for r in epochs] == [1.0, 2.0]
        assert 2 <= epochs[-1]["meta"]["steps"] <= 4  # --debug: at most 2 batches per epoch
        assert keys <= set(epochs[-1]["valid"]) and "test" in records[-1]
        assert list((output / stage / "save").glob("CKPT+*"))  # --debug_persistently
    stage1 = _records(recipe, output / "stage1")[1]
    assert stage1["valid"]["bitrate_kbps"] == 0.5
    assert 0 < stage1["valid"]["code_usage"] <= 100
    stage2 = [r for r in _records(recipe, output / "stage2") if "train" in r][-1]
    gan_losses = {"mel_l1", "adversarial_loss", "feature_matching_loss", "discriminator_loss"}
    assert gan_losses <= set(stage2["train"])
    summary = json.loads((output / "summary.json").read_text())
    assert summary["stage1"]["valid_feature_mse"] == [
        r["valid"]["feature_mse"] for r in _records(recipe, output / "stage1") if "valid" in r
    ]
    assert "first epoch" in stdout and "wall time" in stdout
    # The stages train in parallel on 2 CPUs (their outputs in stage<N>.out), else in turn.
    stage2_out = output / "stage2.out"
    stage2_out = stage2_out.read_text() if stage2_out.exists() else stdout
    assert "Using training precision: `--precision=bf16`" in stage2_out
    rec = load_audio(output / "reconstruction.wav", 16000)
    held_out = json.loads((output / "stage1" / "test.json").read_text())
    assert summary["held_out"] in held_out
    assert abs(rec.shape[0] / 16000 - next(iter(held_out.values()))["duration"]) < 0.05
    assert (output / "spectrograms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The held-out reconstruction is scored; stage 2's test stage wrote its resyntheses.
    assert 0.0 <= summary["held_out_stoi"] <= 1.0 and summary["held_out_mel_distance"] > 0
    assert summary["held_out_pesq"] != summary["held_out_pesq"] or summary["held_out_pesq"] >= 1
    assert "STOI" in stdout and len(list((output / "stage2" / "audio").glob("*_rec.wav"))) == 1
    # Offline (HF_HUB_OFFLINE=1), each model-based metric is switched off with one log line.
    log = (output / "stage2" / "log.txt").read_text()
    assert log.count("switched off") == 3


@pytest.mark.slow
def test_exported_codec_loads_like_an_official_one(recipe, demo, tmp_path, speech):
    output, _ = demo
    codec_dir = output / "codec"
    modes = {path.name: path.stat().st_mode & 0o777 for path in codec_dir.iterdir()}
    assert len(set(modes.values())) == 1, modes  # model.safetensors as the others
    codec = FocalCodec.from_pretrained(codec_dir)
    assert (codec.token_rate, codec.codebook_size) == (50.0, 1024)
    interface = FocalCodecInterface.from_hparams(source=str(codec_dir), savedir=str(tmp_path))
    sig = speech[3][None, :24000]
    with torch.no_grad():
        toks = codec.sig_to_toks(sig)
        assert torch.equal(interface.encode_batch(sig), toks)
        assert torch.allclose(interface.decode_batch(toks), codec.toks_to_sig(toks), atol=1e-6)
    # The weights are those of the best checkpoint of each stage.
    provenance = json.loads((codec_dir / "training.json").read_text())
    for stage, names in (("stage1", ("compressor", "decompressor")), ("stage2", ("decoder",))):
        checkpoint = Path(provenance[stage]["checkpoint"])
        for name in names:
            saved = torch.load(checkpoint / f"{name}.ckpt", weights_only=True)
            exported = getattr(codec, name).state_dict()
            assert all(torch.equal(saved[key], exported[key]) for key in saved)
    stage1 = [r for r in _records(recipe, output / "stage1") if "valid" in r]
    best = min(r["valid"]["feature_mse"] for r in stage1)
    assert provenance["stage1"]["meta"]["feature_mse"] == pytest.approx(best, rel=1e-4)


@pytest.mark.slow
def test_export_refuses_stages_with_different_encoders(recipe, demo, tmp_path):
    output, _ = demo
    other = tmp_path / "stage2"
    shutil.copytree(output / "stage2", other)
    record = json.loads((other / "encoder.json").read_text())
    record["sha256"] = "0" * 64
    (other / "encoder.json").write_text(json.dumps(record))
    with pytest.raises(recipe.export.ExportError, match="different encoders"):
        recipe.export.export_codec(output / "stage1", other, tmp_path / "codec")
    with pytest.raises(recipe.export.ExportError, match="holds stage 1"):
        recipe.export.export_codec(output / "stage1", output / "stage1", tmp_path / "codec")
    assert recipe.export.main([str(output / "stage1"), str(tmp_path), str(tmp_path / "c")]) == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "yaml, extra",
    [
        # Stage 1 at 25 Hz (the variants' down/up-scaling path).
        ("tiny_stage1.yaml", ["--downscale_factors=[2, 1, 1]", "--upscale_factors=[1, 1, 2]"]),
        ("tiny_stage2.yaml", ["--adversarial_start_step=1"]),  # a warm-up step, a GAN step
    ],
)
def test_ddp_two_processes_gloo(recipe, audio_folder, tmp_path, yaml, extra):
    output = tmp_path / "ddp"
    command = train_command(
        yaml,
        output,
        audio_folder,
        *extra,
        "--distributed_backend=gloo",
        "--number_of_epochs=1",
        "--train_batch_size=2",
        "--dynamic_batching=False",
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
    records = _records(recipe, output)
    assert records[0]["meta"]["steps"] == 2.0
    if yaml == "tiny_stage1.yaml":
        assert records[0]["valid"]["bitrate_kbps"] == 0.25  # 10 bits at 25 Hz
    assert "Traceback" not in result.stderr
    # The process group is destroyed at exit: no C++ abort while tearing gloo down.
    assert "terminate called" not in result.stderr
    assert len(list((output / "save").glob("CKPT+*"))) == 1


@pytest.mark.slow
def test_killed_run_resumes_when_rerun(recipe, audio_folder, tmp_path):
    output = tmp_path / "stage1"
    command = train_command(
        "tiny_stage1.yaml",
        output,
        audio_folder,
        "--number_of_epochs=2",
        "--ckpt_interval_steps=1",
        "--dynamic_batching=False",
        "--train_batch_size=1",
    )
    kill_and_resume(command, output / "save")
    records = [r for r in _records(recipe, output) if "valid" in r]
    # Every epoch logged once; 6 utterances x 2 epochs, none lost or repeated.
    assert [r["meta"]["epoch"] for r in records] == [1.0, 2.0]
    assert records[-1]["meta"]["steps"] == 12.0
    assert "test" in _records(recipe, output)[-1]
    checkpoint = Checkpointer(output / "save").find_checkpoint(min_key="feature_mse")
    assert checkpoint is not None and not list((output / "save").glob("*/*.partial"))


@pytest.mark.slow
def test_offline_without_encoder_weights_stops_with_one_line(audio_folder, tmp_path):
    """The paper configuration needs the pretrained encoder: offline, a clear stop."""
    command = train_command("stage1.yaml", tmp_path / "stage1", audio_folder, "--dataset=folder")
    result = subprocess.run(command, env=recipe_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Cannot get the WavLM encoder weights from")
    assert "--random_encoder=True" in last and "Traceback" not in result.stderr
