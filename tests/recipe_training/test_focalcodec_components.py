"""The pieces of the FocalCodec training recipe, tested in process (fast)."""

import doctest
import json
import logging
import math
import re
from pathlib import Path

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.lobes.models.HifiGAN import HifiganDiscriminator as SpeechBrainDiscriminator

from speechbrain_focalcodec.lobes import BinarySphericalQuantizer, WavLM
from tests.conftest import GOLDEN, ROOT, golden_config
from tests.recipe_training.conftest import MODULES, RECIPE

HPARAMS = RECIPE / "hparams"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(recipe, name, tmp_path, monkeypatch):
    """The recipe folder's docstring examples run (pytest only collects the package's)."""
    module = getattr(recipe, name)
    monkeypatch.chdir(tmp_path)
    globs = {"torch": torch, "Path": Path, "getfixture": lambda _: tmp_path}
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(module, globs=dict(module.__dict__, **globs)):
        runner.run(test)
    assert runner.failures == 0


# ----------------------------------------------------------------- hparams
def _yaml_lines(name):
    return (HPARAMS / name).read_text().splitlines()


@pytest.mark.parametrize(
    "variant, factors",
    [("stage1_25hz.yaml", ([2, 1, 1], [1, 1, 2])), ("stage1_12_5hz.yaml", ([2, 2, 1], [1, 2, 2]))],
)
def test_stage1_variants_differ_only_in_token_rate(variant, factors):
    base, other = _yaml_lines("stage1.yaml"), _yaml_lines(variant)
    assert len(base) == len(other)
    changed = {b.split(":")[0] for b, o in zip(base, other) if b != o and not b.startswith("#")}
    assert changed == {"experiment_name", "downscale_factors", "upscale_factors"}
    text = "\n".join(other)
    assert f"downscale_factors: {factors[0]}" in text
    assert f"upscale_factors: {factors[1]}" in text


def _official_config(name):
    """Constructor arguments of the official architecture in hparams/<name>.yaml."""
    with open(ROOT / "hparams" / name) as stream:
        hparams = load_hyperpyyaml(stream, {"weights_source": str(GOLDEN / "tiny_50hz")})
    return {
        slot: hparams[slot].config for slot in ("encoder", "compressor", "decompressor", "decoder")
    }


@pytest.mark.slow
def test_recipe_trains_the_official_architecture(recipe):
    """Stage 1 + stage 2 of the paper yamls build exactly focalcodec_50hz."""
    overrides = {"data_folder": "unused"}
    with open(HPARAMS / "stage1.yaml") as stream:
        stage1 = load_hyperpyyaml(stream, overrides)
    with open(HPARAMS / "stage2.yaml") as stream:
        stage2 = load_hyperpyyaml(stream, overrides)
    official = _official_config("focalcodec_50hz.yaml")
    assert stage1["encoder"].config == official["encoder"] == stage2["encoder"].config
    assert stage1["compressor"].config == official["compressor"]
    assert stage1["decompressor"].config == official["decompressor"]
    assert stage2["decoder"].config == official["decoder"]
    assert stage1["quantizer"].codebook_size == 8192
    assert (stage1["quantizer"].entropy_loss_weight, stage1["quantizer"].diversity_gamma) == (
        0.1,
        1.0,
    )
    # Paper hyperparameters.
    assert (stage1["lr"], stage1["betas"], stage1["weight_decay"]) == (5e-4, [0.8, 0.99], 0.01)
    scheduler = stage1["lr_annealing"]
    assert (scheduler.annealing_factor, scheduler.improvement_threshold) == (0.9, 0.0025)
    assert stage1["max_grad_norm"] == 5.0 and stage1["train_max_duration"] == 60.0
    assert stage1["dynamic_batching"]
    assert (stage2["lr"], stage2["betas"], stage2["lr_decay"]) == (2e-4, [0.8, 0.99], 0.999)
    assert stage2["segment_size"] == 7040 and stage2["mel_loss"].n_mel_channels == 80
    assert isinstance(stage2["discriminator"], SpeechBrainDiscriminator)


# ---------------------------------------------------------- discriminators
def test_narrow_discriminators_are_hifigan_scaled_down(recipe):
    full = recipe.discriminators.HifiganDiscriminator(channel_divisor=1).state_dict()
    reference = SpeechBrainDiscriminator().state_dict()
    assert list(full) == list(reference)
    assert all(full[key].shape == reference[key].shape for key in full)
    narrow = recipe.discriminators.HifiganDiscriminator(channel_divisor=16)
    assert sum(p.numel() for p in narrow.parameters()) < 0.01 * sum(
        v.numel() for v in reference.values()
    )
    scores, feats = narrow(torch.randn(2, 1, 7040))
    assert len(scores) == 8 and sum(len(f) for f in feats) == 54
    with pytest.raises(ValueError, match="channel_divisor"):
        recipe.discriminators.HifiganDiscriminator(channel_divisor=0)


# ------------------------------------------------------------------ losses
def test_mel_loss_ignores_padding(recipe, speech):
    loss = recipe.losses.MelL1Loss(sample_rate=16000, hop_length=320, win_length=1024, n_fft=1024)
    short, long = speech[0][:20000], speech[1][:30000]
    noisy = [short + 0.05 * torch.randn_like(short), long + 0.05 * torch.randn_like(long)]
    ref = torch.nn.utils.rnn.pad_sequence([short, long], batch_first=True)
    hyp = torch.nn.utils.rnn.pad_sequence(noisy, batch_first=True)
    hyp[0, 20000:] = 1.0  # whatever lies in the padding must not count
    lens = torch.tensor([20000 / 30000, 1.0])
    alone = [loss(h[None], r[None]) for h, r in zip(noisy, [short, long])]
    frames = [20000 // 320 + 1, 30000 // 320 + 1]
    expected = (frames[0] * alone[0] + frames[1] * alone[1]) / sum(frames)
    assert torch.allclose(loss(hyp, ref, lens), expected, rtol=1e-5)
    assert not torch.allclose(loss(hyp, ref), expected, rtol=1e-3)


def test_quantizer_entropy_loss_ignores_padding(recipe):
    quantizer = BinarySphericalQuantizer(codebook_size=256)
    lats = torch.randn(3, 20, 8)
    lens = torch.tensor([1.0, 0.5, 0.25])
    codes, toks, loss = recipe.quantizer_brain.quantize_valid_frames(quantizer, lats, lens)
    valid = torch.cat([lats[0], lats[1, :10], lats[2, :5]])[None]
    _, expected_toks, expected_loss = quantizer(valid)
    assert torch.allclose(loss, expected_loss)
    assert torch.equal(toks[1, :10], expected_toks[0, 20:30])
    assert toks[1, 10:].eq(0).all() and codes[2, 5:].eq(0).all()
    # Same codes and tokens as the inference path.
    assert torch.equal(toks[0], quantizer.lats_to_toks(lats[0]))
    unit = torch.nn.functional.normalize(lats[0], dim=-1)
    assert torch.allclose(codes[0], quantizer.lats_to_codes(unit))
    # Straight-through gradients reach the latents of valid frames only.
    with torch.enable_grad():
        lats.requires_grad_(True)
        codes, _, loss = recipe.quantizer_brain.quantize_valid_frames(quantizer, lats, lens)
        (codes.sum() + loss).backward()
    assert lats.grad[0].abs().sum() > 0 and lats.grad[2, 5:].eq(0).all()


def test_random_segments_are_aligned_and_short_utterances_rejected(recipe):
    hop = 320
    sig = torch.arange(40 * hop, dtype=torch.float)[None].repeat(3, 1)
    feats = torch.arange(40, dtype=torch.float)[None, :, None].repeat(3, 1, 2)
    lens = torch.tensor([1.0, 0.75, 0.6])
    for _ in range(20):
        seg_sig, seg_feats = recipe.decoder_brain.random_segments(sig, feats, lens, 22, hop)
        assert torch.equal(seg_sig[:, ::hop], hop * seg_feats[..., 0])
        assert (seg_feats[:, -1, 0] < torch.tensor([40, 30, 24])).all()
    with pytest.raises(ValueError, match="train_min_duration"):
        recipe.decoder_brain.random_segments(sig, feats, torch.tensor([1.0, 0.5, 1.0]), 22, hop)


# ------------------------------------------------------------- checkpoints
def test_interrupted_checkpoint_is_ignored_and_removed(recipe, tmp_path):
    model = torch.nn.Linear(4, 4)
    checkpointer = recipe.checkpointing.AtomicCheckpointer(tmp_path, {"model": model})
    saved = checkpointer.save_checkpoint(meta={"loss": 1.0})
    assert (saved.path / "CKPT.yaml").is_file()
    assert not list(tmp_path.glob("*/*.partial"))
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    # A later save killed half way: meta file still partial, weights truncated.
    broken = tmp_path / "CKPT+9999-12-31+23-59-59+00"
    broken.mkdir()
    (broken / "CKPT.yaml.partial").write_text("end-of-epoch: true\nloss: 0.0\nunixtime: 1.e+12\n")
    (broken / "model.ckpt").write_bytes(b"trunc")
    torch.nn.init.zeros_(model.weight)
    recovered = checkpointer.recover_if_possible()
    assert recovered.path == saved.path
    assert torch.equal(model.weight, weights["weight"])
    assert not broken.exists()


# ----------------------------------------------------------------- encoder
def _tiny_wavlm(seed):
    torch.manual_seed(seed)
    return WavLM(
        [8] * 7, num_layers=1, dim=16, ffn_dim=32, num_heads=2, conv_pos=4, conv_pos_groups=2
    )


def test_random_encoder_is_drawn_once_for_both_stages(recipe, tmp_path, caplog):
    stage1, stage2 = _tiny_wavlm(0), _tiny_wavlm(1)
    with caplog.at_level(logging.WARNING):
        record1 = recipe.encoder.prepare_encoder(stage1, "unused", tmp_path, random_encoder=True)
    assert "RANDOMLY INITIALIZED" in caplog.text
    record2 = recipe.encoder.prepare_encoder(stage2, "unused", tmp_path, random_encoder=True)
    assert record1 == record2
    recipe.encoder.load_encoder(stage2, record2, tmp_path)
    for a, b in zip(stage1.state_dict().values(), stage2.state_dict().values()):
        assert torch.equal(a, b)
    assert not any(p.requires_grad for p in stage2.parameters())
    assert recipe.encoder.read_encoder_record(tmp_path)["sha256"] == record1["sha256"]


def test_encoder_taken_from_a_local_official_checkpoint(recipe, tmp_path):
    config = golden_config("tiny_50hz")["encoder_config"]
    config = {
        k: v for k, v in config.items() if k not in ("max_cached_steps", "use_flex_attention")
    }
    encoder = WavLM(**config)
    record = recipe.encoder.prepare_encoder(encoder, str(GOLDEN / "tiny_50hz"), tmp_path)
    recipe.encoder.load_encoder(encoder, record)
    from speechbrain_focalcodec import FocalCodec

    official = FocalCodec.from_pretrained(GOLDEN / "tiny_50hz").encoder
    for a, b in zip(official.state_dict().values(), encoder.state_dict().values()):
        assert torch.equal(a, b)
    # Another architecture is refused with a clear message.
    with pytest.raises(recipe.encoder.EncoderUnavailable, match="architecture"):
        recipe.encoder.prepare_encoder(_tiny_wavlm(0), str(GOLDEN / "tiny_50hz"), tmp_path / "x")


def test_encoder_offline_stops_with_instructions(recipe, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(recipe.encoder.EncoderUnavailable) as error:
        recipe.encoder.prepare_encoder(_tiny_wavlm(0), "lucadellalib/focalcodec_50hz", tmp_path)
    message = str(error.value)
    assert "downloads are off" in message and "--encoder_source" in message
    assert "--random_encoder=True" in message and "\n" not in message


# ----------------------------------------------------------- data, logs
def _write_audio(path, seconds, rate):
    from speechbrain.dataio import audio_io

    path.parent.mkdir(parents=True, exist_ok=True)
    audio_io.save(str(path), 0.1 * torch.randn(int(seconds * rate)), rate)


def test_folder_preparation_any_rate_and_format(recipe, tmp_path):
    data = tmp_path / "data"
    for index in range(6):
        _write_audio(
            data / f"spk{index % 2}" / f"utt{index}.wav", 1.0 + index, 8000 * (1 + index % 3)
        )
    _write_audio(data / "other" / "utt0.flac", 2.0, 44100)  # same stem, other folder
    (data / "broken.wav").write_bytes(b"not audio")
    jsons = [tmp_path / "out" / f"{split}.json" for split in ("train", "valid", "test")]
    recipe.folder_prepare.prepare_folder(data, *jsons, valid_ratio=0.2, test_ratio=0.2)
    splits = [json.loads(path.read_text()) for path in jsons]
    # broken.wav skipped; the split is drawn among the 7 usable files.
    assert [len(split) for split in splits] == [5, 1, 1]
    entries = {k: v for split in splits for k, v in split.items()}
    assert len(entries) == 7 and "other_utt0" in entries and "spk0_utt0" in entries
    assert entries["spk1_utt1"]["sample_rate"] == 16000 and entries["spk1_utt1"]["duration"] == 2.0
    # Same options: nothing is redone; other options: redone.
    mtime = jsons[0].stat().st_mtime_ns
    recipe.folder_prepare.prepare_folder(data, *jsons, valid_ratio=0.2, test_ratio=0.2)
    assert jsons[0].stat().st_mtime_ns == mtime
    resampled = tmp_path / "16k"
    recipe.folder_prepare.prepare_folder(
        data, *jsons, valid_ratio=0.2, test_ratio=0.2, resample_folder=resampled
    )
    copies = sorted(resampled.rglob("*.flac"))
    assert len(copies) == 7 and not list(resampled.rglob("*partial*"))
    hparams = {
        "data_folder": data,
        "resample_folder": resampled,
        "sample_rate": 16000,
        "sorting": "random",
        **{f"{split}_json": path for split, path in zip(("train", "valid", "test"), jsons)},
        **{f"{split}_max_duration": 60.0 for split in ("train", "valid", "test")},
    }
    datasets = recipe.dataio.dataio_prepare(hparams)
    for dataset in datasets.values():
        for item in dataset:
            entry = entries[item["id"]]
            assert (
                item["sig"].ndim == 1 and abs(item["sig"].shape[0] - 16000 * entry["duration"]) <= 1
            )


def test_folder_preparation_errors(recipe, tmp_path):
    jsons = [tmp_path / f"{split}.json" for split in ("train", "valid", "test")]
    error = recipe.manifests.DataPreparationError
    with pytest.raises(error, match="not found"):
        recipe.folder_prepare.prepare_folder(tmp_path / "missing", *jsons)
    (tmp_path / "empty").mkdir()
    with pytest.raises(error, match="No audio files"):
        recipe.folder_prepare.prepare_folder(tmp_path / "empty", *jsons)
    _write_audio(tmp_path / "two" / "a.wav", 1.0, 16000)
    _write_audio(tmp_path / "two" / "b.wav", 1.0, 16000)
    with pytest.raises(error, match="cannot give"):
        recipe.folder_prepare.prepare_folder(
            tmp_path / "two", *jsons, valid_ratio=0.3, test_ratio=0.3
        )


def test_folder_preparation_command_line(recipe, tmp_path, capsys):
    assert recipe.folder_prepare.main([str(tmp_path / "missing"), str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.startswith("error: Audio folder not found")


def test_libritts_preparation(recipe, tmp_path):
    root = tmp_path / "LibriTTS"
    for subset, speaker in (("train-clean-100", "19"), ("dev-clean", "84"), ("test-clean", "121")):
        for index in range(2):
            name = f"{speaker}_198_000000_00000{index}"
            _write_audio(root / subset / speaker / "198" / f"{name}.wav", 1.5, 24000)
            (root / subset / speaker / "198" / f"{name}.normalized.txt").write_text("text")
    jsons = [tmp_path / "out" / f"{split}.json" for split in ("train", "valid", "test")]
    recipe.libritts_prepare.prepare_libritts(
        tmp_path,
        *jsons,
        train_splits=["train-clean-100"],
        valid_splits=["dev-clean"],
        test_splits=["test-clean"],
    )
    train = json.loads(jsons[0].read_text())
    assert sorted(train) == ["19_198_000000_000000", "19_198_000000_000001"]
    entry = train["19_198_000000_000000"]
    assert entry["spk_id"] == "19" and entry["sample_rate"] == 24000 and entry["duration"] == 1.5
    assert entry["wav"].startswith("{data_root}/LibriTTS/train-clean-100/19/198/")
    with pytest.raises(recipe.manifests.DataPreparationError, match="openslr.org/60"):
        recipe.libritts_prepare.prepare_libritts(tmp_path, *jsons, train_splits=["train-clean-360"])
    with pytest.raises(recipe.manifests.DataPreparationError, match="Unknown LibriTTS subsets"):
        recipe.libritts_prepare.prepare_libritts(tmp_path, *jsons, train_splits=["train"])


def test_train_log_round_trip(recipe, tmp_path):
    from speechbrain.utils.train_logger import FileTrainLogger

    logger = FileTrainLogger(tmp_path / "train_log.txt")
    logger.log_stats(
        {"epoch": 1, "lr": 5e-4, "steps": 10}, {"loss": 0.5}, {"loss": 0.25, "code_usage": 40.0}
    )
    logger.log_stats({"epoch loaded": 1}, test_stats={"loss": 0.3})
    records = recipe.train_log.read_train_log(tmp_path / "train_log.txt")
    assert records[0]["meta"] == {"epoch": 1.0, "lr": 5e-4, "steps": 10.0}
    assert records[0]["valid"] == {"loss": 0.25, "code_usage": 40.0}
    assert records[1] == {"meta": {"epoch loaded": 1.0}, "test": {"loss": 0.3}}


# ------------------------------------------------------ non-finite losses
def _tiny_hparams(recipe, yaml, tmp_path, **overrides):
    overrides.update(data_folder=str(tmp_path), output_folder=str(tmp_path / "out"))
    with open(HPARAMS / yaml) as stream:
        return load_hyperpyyaml(stream, overrides)


def _batch(speech):
    from speechbrain.dataio.batch import PaddedBatch

    items = [{"id": f"u{i}", "sig": sig[:16000]} for i, sig in enumerate(speech[:2])]
    return PaddedBatch(items)


@pytest.mark.parametrize(
    "yaml, brain_name",
    [("tiny_stage1.yaml", "QuantizerBrain"), ("tiny_stage2.yaml", "DecoderBrain")],
)
def test_non_finite_loss_skips_the_step(recipe, tmp_path, speech, yaml, brain_name, monkeypatch):
    """A NaN loss changes no weight, counts towards patience, then stops training."""
    extra = {} if yaml == "tiny_stage1.yaml" else {"adversarial_start_step": 0}
    hparams = _tiny_hparams(recipe, yaml, tmp_path, **extra)
    module = recipe.quantizer_brain if yaml == "tiny_stage1.yaml" else recipe.decoder_brain
    brain = getattr(module, brain_name)(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts={"device": "cpu", "nonfinite_patience": 1},
        checkpointer=None,
    )
    with torch.enable_grad():
        brain.on_fit_start()
        brain.on_stage_start(recipe.codec_brain.sb.Stage.TRAIN, 1)
        brain.nonfinite_count = 0
        batch = _batch(speech)
        initial = {k: v.clone() for k, v in brain.modules.state_dict().items()}
        brain.fit_batch(batch)  # a normal step changes the weights of every trained module
        before = {k: v.clone() for k, v in brain.modules.state_dict().items()}
        moved = {k.split(".")[0] for k in initial if not torch.equal(initial[k], before[k])}
        assert moved == {name for name, m in brain.modules.items() if list(m.parameters())}
        if yaml == "tiny_stage1.yaml":
            original = hparams["feature_loss"]
            brain.hparams.feature_loss = lambda *a, **k: original(*a, **k) * math.nan
        else:
            original = hparams["mel_loss"].forward
            monkeypatch.setattr(hparams["mel_loss"], "forward", lambda *a: original(*a) * math.nan)
        loss = brain.fit_batch(batch)
        assert not torch.isfinite(loss)
        after = brain.modules.state_dict()
        changed = [k for k in before if not torch.equal(before[k], after[k])]
        assert changed == [] or (
            yaml == "tiny_stage2.yaml" and all("discriminator" in k for k in changed)
        )
        assert brain.nonfinite_count >= 1
        with pytest.raises(ValueError, match="patience is exhausted"):
            brain.fit_batch(batch)
            brain.fit_batch(batch)


def test_vocos_trains_under_bfloat16_autocast():
    """Mixed precision: the decoder's inverse STFT runs in float32."""
    from speechbrain_focalcodec.lobes import Vocos

    decoder = Vocos(input_dim=16, num_layers=1, dim=16, ffn_dim=32)
    with torch.enable_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        sig, _ = decoder(torch.randn(2, 10, 16), torch.tensor([1.0, 0.5]))
        sig.abs().mean().backward()
    assert sig.dtype == torch.float32 and torch.isfinite(sig).all()
    assert decoder.head.proj.weight.grad is not None


def test_recipe_files_are_documented():
    """Every recipe module is described in the recipe README."""
    readme = (RECIPE / "README.md").read_text()
    for name in MODULES:
        assert re.search(rf"`{name}\.py`", readme), name


def test_decoder_warm_up_leaves_the_discriminators_alone(recipe, tmp_path, speech):
    hparams = _tiny_hparams(recipe, "tiny_stage2.yaml", tmp_path, adversarial_start_step=1)
    brain = recipe.decoder_brain.DecoderBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts={"device": "cpu"},
        checkpointer=None,
    )
    with torch.enable_grad():
        brain.on_fit_start()
        brain.on_stage_start(recipe.codec_brain.sb.Stage.TRAIN, 1)
        brain.nonfinite_count = 0
        moved = []
        for _ in range(2):
            before = {k: v.clone() for k, v in brain.modules.state_dict().items()}
            brain.fit_batch(_batch(speech))
            after = brain.modules.state_dict()
            moved.append({k.split(".")[0] for k in before if not torch.equal(before[k], after[k])})
    assert moved == [{"decoder"}, {"decoder", "discriminator"}]
    assert set(brain.averages()) == {
        "mel_l1",
        "adversarial_loss",
        "feature_matching_loss",
        "discriminator_loss",
    }
