"""Token extraction: exact batching, resumption after a kill, sharding with torchrun."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from speechbrain.dataio.batch import PaddedBatch

from speechbrain_focalcodec import FocalCodec
from speechbrain_focalcodec.dataio import (
    BatchTokenizer,
    ManifestError,
    load_toks,
    read_manifest,
    toks_path,
    write_manifest,
)
from speechbrain_focalcodec.extraction import ExtractionError, extract_tokens, main
from tests.conftest import GOLDEN, ROOT, random_codec
from tests.recipe_corpora import _write, clips

NUM_FILES = 24


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A CSV manifest of NUM_FILES clips of 0.4 to 1.6 s (distinct lengths)."""
    folder = tmp_path_factory.mktemp("corpus")
    pool = [clip for speaker_clips in clips().values() for clip in speaker_clips]
    data = {}
    for index in range(NUM_FILES):
        clip = pool[index % len(pool)][: 6400 + 800 * (index % 12)]
        path = folder / f"utt{index:02d}.wav"
        _write(path, clip)
        data[f"utt{index:02d}"] = {"duration": clip.shape[0] / 16000, "wav": str(path)}
    write_manifest(folder / "data.csv", data)
    return folder / "data.csv"


@pytest.fixture(scope="module")
def codec():
    return FocalCodec.from_pretrained(GOLDEN / "tiny_50hz")


@pytest.fixture(scope="module")
def reference(corpus, codec, tmp_path_factory):
    """Tokens extracted one file at a time."""
    folder = tmp_path_factory.mktemp("reference")
    extract_tokens(codec, corpus, folder, batch_size=1, progress=False)
    return folder


def token_files(folder: Path) -> dict:
    return {path.name: path.read_bytes() for path in sorted((folder / "wav").glob("*.npy"))}


def test_files_identical_whatever_the_batch_size(corpus, codec, reference, tmp_path):
    out = extract_tokens(codec, corpus, tmp_path, batch_size=5, progress=False)
    assert token_files(tmp_path) == token_files(reference)
    assert len(token_files(reference)) == NUM_FILES
    manifest = read_manifest(out)
    assert list(manifest) == list(read_manifest(corpus))
    for entry in manifest.values():
        sig_len = round(entry["duration"] * 16000)
        toks = load_toks(entry["wav_toks_file"])
        assert toks.shape[0] == codec.sig_to_toks(torch.zeros(1, sig_len)).shape[1]
        assert toks.max() < codec.codebook_size


def test_on_the_fly_tokens_match_the_files(corpus, codec, reference):
    from speechbrain_focalcodec.audio import load_audio

    data = read_manifest(corpus)
    ids = ["utt03", "utt10", "utt05"]
    batch = PaddedBatch([{"id": i, "wav_sig": load_audio(data[i]["wav"], 16000)} for i in ids])
    tokenizer = BatchTokenizer(codec)
    for _ in range(2):  # computed, then from the cache
        toks, lens = tokenizer(batch, "wav")
        for row, length, utt_id in zip(toks, lens, ids):
            count = round(float(length) * toks.shape[1])
            assert torch.equal(row[:count], load_toks(toks_path(reference, "wav", utt_id)))
            assert not row[count:].any()
    assert len(tokenizer.cached) == 3


def test_killed_run_resumes(corpus, reference, tmp_path):
    command = [
        sys.executable, "-m", "speechbrain_focalcodec.extraction", str(corpus),
        "--codec", str(GOLDEN / "tiny_50hz"), "--output_folder", str(tmp_path),
        "--batch_size", "1", "--device", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list((tmp_path / "wav").glob("*.npy"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = set(token_files(tmp_path))
    assert 3 <= len(done) < NUM_FILES, "the run must be killed half way"
    assert not (tmp_path / "data.csv").exists()
    before = {name: (tmp_path / "wav" / name).stat().st_mtime_ns for name in done}
    result = subprocess.run(command + ["--no_progress"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"{len(done)} already extracted" in result.stderr
    assert token_files(tmp_path) == token_files(reference)
    assert all((tmp_path / "wav" / name).stat().st_mtime_ns == t for name, t in before.items())
    assert (tmp_path / "data.csv").is_file()


def test_torchrun_shards(corpus, reference, tmp_path):
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_port", "29517", "-m", "speechbrain_focalcodec.extraction", str(corpus),
        "--codec", str(GOLDEN / "tiny_50hz"), "--output_folder", str(tmp_path),
        "--batch_size", "3", "--device", "cpu", "--no_progress",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Shard 0/2: 12 files" in result.stderr and "Shard 1/2: 12 files" in result.stderr
    assert token_files(tmp_path) == token_files(reference)
    assert list(read_manifest(tmp_path / "data.csv")) == list(read_manifest(corpus))


def test_explicit_shards_write_the_manifest_when_all_are_done(corpus, codec, reference, tmp_path):
    assert extract_tokens(codec, corpus, tmp_path, rank=1, world_size=3, progress=False) is None
    assert extract_tokens(codec, corpus, tmp_path, rank=0, world_size=3, progress=False) is None
    out = extract_tokens(codec, corpus, tmp_path, rank=2, world_size=3, progress=False)
    assert out == tmp_path / "data.csv"
    assert token_files(tmp_path) == token_files(reference)


def test_another_codec_is_refused(corpus, reference):
    with pytest.raises(ExtractionError, match="another codec"):
        extract_tokens(random_codec("50hz"), corpus, reference, progress=False)


def test_bad_inputs_give_one_line_errors(corpus, tmp_path, capsys):
    write_manifest(tmp_path / "bad.json", {"a": {"path": "x.wav"}})
    with pytest.raises(ManifestError, match="no field 'wav'"):
        extract_tokens(random_codec("50hz"), tmp_path / "bad.json", tmp_path / "out")
    write_manifest(tmp_path / "missing.json", {"a": {"wav": str(tmp_path / "missing.wav")}})
    status = main(
        [str(tmp_path / "missing.json"), "--codec", str(GOLDEN / "tiny_50hz"),
         "--output_folder", str(tmp_path / "out2"), "--no_progress"]
    )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(err) == 1
    assert err[-1].startswith("focalcodec-extract-tokens: error: 1 audio files of")
    assert "do not exist, e.g. " in err[-1] and "missing.wav (a)" in err[-1]


def test_output_that_is_a_file(corpus, tmp_path, capsys):
    """--output naming a file: one line that says so (was "[Errno 17] File exists")."""
    blocker = tmp_path / "tokens"
    blocker.write_text("x")
    status = main([str(corpus), "--model", str(GOLDEN / "tiny_50hz"), "--output", str(blocker)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(err) == 1
    assert err[0].endswith(f"cannot write into {blocker}: it is a file, not a folder")
