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
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import List, Sequence

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
