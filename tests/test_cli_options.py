"""One command-line vocabulary: outputs are checked before anything is written
(inputs never overwritten, no collisions, --force to replace), failures leave no
partial output, options are validated, and errors are one line (exit 1; 2 only
for usage errors)."""

import json
import os
import shutil

import pytest
import soundfile as sf
import torch

from speechbrain_focalcodec import cli
from speechbrain_focalcodec.cli import main
from speechbrain_focalcodec.dataio import load_toks
from tests.conftest import GOLDEN, LIBRISPEECH
from tests.test_streaming import _one_thread  # noqa: F401  (small tensors)

OFFLINE = str(GOLDEN / "tiny_50hz")
CAUSAL = str(GOLDEN / "tiny_causal")
SPEECH = LIBRISPEECH[1]  # 2.09 s


def run(capsys, *argv):
    status = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


def one_line(err: str, *fragments: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_an_input_is_never_an_output(tmp_path, capsys):
    wav = tmp_path / "x.wav"
    shutil.copy(SPEECH, wav)
    before = wav.read_bytes()
    for force in ([], ["--force"]):
        status, _, err = run(capsys, "resynth", "--model", OFFLINE, *force, wav, wav)
        assert status == 1
        one_line(err, "is also an input", "refusing to overwrite")
        status, _, err = run(capsys, "encode", "--model", OFFLINE, *force, wav, wav)
        assert status == 1
    (tmp_path / "link.wav").symlink_to(wav)
    status, _, err = run(
        capsys, "resynth", "--model", OFFLINE, "--force", wav, tmp_path / "link.wav"
    )
    assert status == 1 and "also an input" in err
    status, _, err = run(capsys, "stream", "--model", CAUSAL, wav, "--output", wav, "--force")
    assert status == 1 and "also an input" in err
    assert wav.read_bytes() == before


def test_existing_outputs_need_force(tmp_path, capsys):
    out = tmp_path / "out.fcz"
    out.write_bytes(b"keep me")
    status, _, err = run(capsys, "encode", "--model", OFFLINE, SPEECH, out)
    assert status == 1
    one_line(err, f"{out} exists", "pass --force to replace it")
    assert out.read_bytes() == b"keep me"
    assert run(capsys, "encode", "--model", OFFLINE, "--force", SPEECH, out)[0] == 0
    assert out.read_bytes()[:4] == b"FCZ\x1a"
    folder = tmp_path / "many"
    assert run(capsys, "encode", "--model", OFFLINE, "--quiet", *LIBRISPEECH[:3], folder)[0] == 0
    status, _, err = run(capsys, "encode", "--model", OFFLINE, *LIBRISPEECH[:3], folder)
    assert status == 1
    one_line(err, "exists (and 2 more outputs)", "--force")


def test_colliding_outputs_are_refused_before_writing(tmp_path, capsys):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    shutil.copy(SPEECH, tmp_path / "in" / "a.flac")
    sig, rate = sf.read(SPEECH)
    sf.write(tmp_path / "in" / "a.wav", sig, rate)
    out = tmp_path / "out"
    status, _, err = run(capsys, "encode", "--model", OFFLINE, tmp_path / "in", out)
    assert status == 1
    one_line(err, "a.flac and", "a.wav would both be written to", "a.fcz")
    assert not out.exists()
    (tmp_path / "in" / "a.wav").unlink()
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(SPEECH, other / "a.flac")
    status, _, err = run(
        capsys, "encode", "--model", OFFLINE, tmp_path / "in" / "a.flac", other / "a.flac", out
    )
    assert status == 1 and "would both be written to" in err and not out.exists()
    # One file named twice (a folder and a glob) is encoded once.
    status, _, err = run(
        capsys, "encode", "--model", OFFLINE, tmp_path / "in", str(tmp_path / "in" / "*.flac"), out
    )
    assert status == 0, err
    assert [p.name for p in out.iterdir()] == ["a.fcz"]


def test_a_failed_decode_leaves_nothing(tmp_path, capsys, monkeypatch):
    fcz = tmp_path / "x.fcz"
    assert run(capsys, "encode", "--model", OFFLINE, SPEECH, fcz)[0] == 0
    decode = cli.iter_decode

    def failing(*args, **kwargs):
        for piece in decode(*args, **kwargs):
            yield piece
            raise RuntimeError("disk on fire")

    monkeypatch.setattr(cli, "iter_decode", failing)
    status, _, err = run(
        capsys, "decode", "--model", OFFLINE, "--segment", "0.5", fcz, tmp_path / "x.wav"
    )
    assert status == 1 and "disk on fire" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.fcz"]


S = str(SPEECH)
ENCODE = ["encode", "--model", OFFLINE, S, "o.fcz"]
STREAM = ["stream", "--model", CAUSAL, S]
CONVERT = ["convert", "--model", OFFLINE, "--reference", S, S, "o.wav"]
EXTRACT = ["extract-tokens", "m.json", "--model", OFFLINE]


@pytest.mark.parametrize(
    "argv, message",
    [
        (STREAM + ["--chunks", "0"], "--chunks: must be a whole number >= 1, got '0'"),
        (STREAM + ["--chunks", "-3"], "--chunks: must be a whole number >= 1"),
        (ENCODE + ["--segment", "inf"], "--segment: must be a finite number of seconds > 0"),
        (ENCODE + ["--segment", "nan"], "--segment: must be a finite"),
        (ENCODE + ["--segment", "-1"], "--segment: must be a finite"),
        (ENCODE + ["--context", "-1"], "--context: must be a finite number of seconds >= 0"),
        (ENCODE + ["--threads", "0"], "--threads: must be from 1 to"),
        (ENCODE + ["--threads", "100000"], "(the CPUs this process may use)"),
        (CONVERT + ["--topk", "0"], "--topk: must be a whole number"),
        (ENCODE[:1] + ENCODE[3:], "the following arguments are required: --model"),
        (EXTRACT + ["--batch_size", "0", "--output", "t"], "--batch_size: must be"),
        (EXTRACT, "the following arguments are required: --output"),
        (["evaluate", "src", "--num_spectrograms", "-1"], "--num_spectrograms: must be"),
    ],
)
def test_numeric_options_are_usage_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2 and message in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_help_names_the_subcommand(capsys):
    for name in ("extract-tokens", "evaluate", "encode"):
        assert main([name, "--help"]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: focalcodec {name}")
        for option in ("--model", "--quiet", "--device", "--debug"):
            assert option in out
        for hidden in ("--codec", "--no_progress", "--no-progress", "--output_folder"):
            assert hidden not in out


def _manifest(tmp_path, wav):
    manifest = tmp_path / "data.json"
    manifest.write_text(json.dumps({"utt": {"wav": str(wav), "duration": 2.0}}))
    return manifest


def test_extract_tokens_speaks_the_same_language(tmp_path, capsys):
    manifest = _manifest(tmp_path, SPEECH)
    new = ["--model", OFFLINE, "--output", tmp_path / "new", "--quiet", "--batch_size", "2"]
    old = [
        "--codec",
        OFFLINE,
        "--output_folder",
        tmp_path / "old",
        "--no_progress",
        "--batch-size",
        "2",
    ]
    for options in (new, old):
        status, out, err = run(capsys, "extract-tokens", manifest, *options)
        assert status == 0, err
    new_toks, old_toks = (load_toks(next((tmp_path / f / "wav").iterdir())) for f in ("new", "old"))
    assert torch.equal(new_toks, old_toks)


def test_extract_tokens_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad_codec"
    bad.mkdir()
    (bad / "config.json").write_text("[1, 2]")
    manifest = _manifest(tmp_path, SPEECH)
    status, _, err = run(
        capsys, "extract-tokens", manifest, "--model", bad, "--output", tmp_path / "t"
    )
    assert status == 1
    one_line(err, "focalcodec extract-tokens: error:")
    status, _, err = run(
        capsys, "extract-tokens", manifest, "--model", tmp_path / "nope", "--output", tmp_path / "t"
    )
    assert status == 1
    one_line(err, "focalcodec extract-tokens: error:")
    relative = tmp_path / "relative.json"
    relative.write_text(json.dumps({"utt": {"wav": "speakers/utt.flac"}}))
    status, _, err = run(
        capsys, "extract-tokens", relative, "--model", OFFLINE, "--output", tmp_path / "t"
    )
    assert status == 1
    one_line(err, "do not exist", "speakers/utt.flac", "are relative to", "pass --data_root")


def test_evaluate_bad_model_exits_1(tmp_path, capsys):
    status, _, err = run(
        capsys, "evaluate", LIBRISPEECH[0].parent, "--model", tmp_path / "nope",
        "--metrics", "si_sdr", "--output", tmp_path / "eval", "--quiet",
    )  # fmt: skip
    assert status == 1
    one_line(err, "focalcodec evaluate: error: Cannot load model")


def test_one_long_file_gets_a_progress_bar(tmp_path, capsys):
    status, _, err = run(
        capsys, "encode", "--model", OFFLINE, "--segment", "0.5", SPEECH, tmp_path / "a.fcz"
    )
    assert status == 0 and "s/s]" in err and "/2.1" in err
    status, _, err = run(
        capsys,
        "decode",
        "--model",
        OFFLINE,
        "--segment",
        "0.5",
        tmp_path / "a.fcz",
        tmp_path / "a.wav",
    )
    assert status == 0 and "/2.1" in err
    status, _, err = run(
        capsys,
        "resynth",
        "--model",
        OFFLINE,
        "--quiet",
        "--segment",
        "0.5",
        SPEECH,
        tmp_path / "b.wav",
    )
    assert status == 0 and err == ""


def test_threads_option_sets_torch_threads(tmp_path, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    threads = str(min(2, os.cpu_count() or 1))
    assert run(capsys, "info", "--model", OFFLINE, "--threads", threads)[0] == 0
    assert calls == [int(threads)]
