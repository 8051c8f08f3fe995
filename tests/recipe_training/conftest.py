"""Fixtures of the FocalCodec training recipe tests (recipes/LibriTTS/focalcodec).

The shared training code lives in ``speechbrain_focalcodec.training``; the recipe
folder keeps ``train.py`` and ``demo.py``, which import each other by bare names, as
SpeechBrain recipes do. ``recipe`` gives both by name, loading the recipe's own modules
with its folder on ``sys.path`` and unloading them after the session, so that same-named
modules of other recipes never get mixed up with them. Training runs in subprocesses,
like a user's.
"""

import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import List, Sequence, Tuple

import pytest

from tests.conftest import ROOT, SAMPLES
from tests.test_streaming import _one_thread  # noqa: F401  (tiny models: one thread)

RECIPE = ROOT / "recipes" / "LibriTTS" / "focalcodec"
TRAINING = ROOT / "speechbrain_focalcodec" / "training"
SHARED_MODULES = sorted(p.stem for p in TRAINING.glob("*.py") if p.stem != "__init__")
MODULES = sorted(p.stem for p in RECIPE.glob("*.py"))
# Short utterances of the bundled speech (and one 48 kHz file): quick to train on.
SUBSET = [
    "librispeech-dev-clean/84-121123-0000.flac",
    "librispeech-dev-clean/84-121123-0007.flac",
    "librispeech-dev-clean/84-121123-0009.flac",
    "librispeech-dev-clean/84-121123-0012.flac",
    "librispeech-dev-clean/84-121123-0013.flac",
    "librispeech-dev-clean/84-121123-0019.flac",
    "librispeech-dev-clean/84-121123-0022.flac",
    "librispeech-dev-clean/84-121123-0027.flac",
    "voicebank-noisy-testset/p287_007.flac",
]
# 9 files: 6 for training, 2 for validation, 1 for test.
SPLIT_ARGS = ["--valid_ratio=0.2", "--test_ratio=0.1"]


def _unload() -> None:
    for name in MODULES:
        module = sys.modules.get(name)
        if module is not None and Path(getattr(module, "__file__", "") or "").parent == RECIPE:
            del sys.modules[name]


@pytest.fixture(scope="session")
def recipe():
    """The shared training modules and the recipe's own, by name (``recipe.dataio``,
    ``recipe.export``, ``recipe.train``...)."""
    for name in MODULES:  # same-named modules of another recipe
        module = sys.modules.get(name)
        if module is not None and Path(getattr(module, "__file__", "") or "").parent != RECIPE:
            del sys.modules[name]
    sys.path.insert(0, str(RECIPE))
    try:
        shared = {
            name: importlib.import_module(f"speechbrain_focalcodec.training.{name}")
            for name in SHARED_MODULES
        }
        own = {name: importlib.import_module(name) for name in MODULES}
        yield SimpleNamespace(**shared, **own)
    finally:
        sys.path.remove(str(RECIPE))
        _unload()


@pytest.fixture(scope="session")
def audio_folder(tmp_path_factory) -> Path:
    """A folder with a few short utterances of the bundled speech."""
    folder = tmp_path_factory.mktemp("audio")
    for name in SUBSET:
        (folder / Path(name).parent).mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLES / name, folder / name)
    return folder


def recipe_env() -> dict:
    """Environment of the training subprocesses: this checkout first on the path, one
    CPU thread (tiny models; multi-threaded PyTorch crawls on a busy CPU), no downloads
    (HF_HUB_OFFLINE=1: the runs are the same with or without a network)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def train_command(yaml: str, output: Path, data: Path, *args: str) -> List[str]:
    """``python train.py hparams/<yaml> ...`` on ``data`` writing to ``output``."""
    return [
        sys.executable,
        str(RECIPE / "train.py"),
        str(RECIPE / "hparams" / yaml),
        f"--data_folder={data}",
        f"--output_folder={output}",
        f"--encoder_folder={output.parent / 'encoder'}",
        "--device=cpu",
        "--noprogressbar",
        *SPLIT_ARGS,
        *args,
    ]


def run(command: Sequence[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs a recipe command; fails the test with its output if it fails."""
    result = subprocess.run(
        list(command), env=recipe_env(), capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def free_port() -> int:
    """A TCP port nobody listens on (for torchrun's rendezvous)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def intra_epoch_step(save_folder: Path) -> int:
    """Optimizer step of the newest complete intra-epoch checkpoint (0 if none)."""
    steps = [0]
    for meta in save_folder.glob("CKPT+*/CKPT.yaml"):
        brain = meta.parent / "brain.ckpt"
        if "end-of-epoch: false" in meta.read_text() and brain.exists():
            text = brain.read_text()
            steps += [
                int(line.split(":")[1]) for line in text.splitlines() if "optimizer_step" in line
            ]
    return max(steps)


def kill_and_resume(command: Sequence[str], save_folder: Path, steps: int = 8) -> Tuple[str, int]:
    """Runs ``command``, SIGKILLs it once an intra-epoch checkpoint of ``steps`` optimizer
    steps exists, reruns it to the end; returns the rerun's output and the killed step
    (the rerun must say it resumed from a step at least as late)."""
    process = subprocess.Popen(
        list(command),
        env=recipe_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while intra_epoch_step(save_folder) < steps and process.poll() is None:
        assert time.monotonic() < deadline, "no intra-epoch checkpoint was written"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "training ended before it could be killed"
    killed_at = intra_epoch_step(save_folder)
    result = run(command)
    out = result.stdout + result.stderr
    assert "Resumed from the last checkpoint" in out
    resumed_step = int(
        out.split("Resumed from the last checkpoint")[1].split("optimizer step ")[1].split()[0]
    )
    assert resumed_step >= killed_at
    return out, killed_at
