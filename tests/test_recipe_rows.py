"""tests/recipes/<Dataset>.csv: the rows SpeechBrain's recipe-test runner
(tests/utils/recipe_tests.py of SpeechBrain) reads. Every recipe yaml has one,
the files they name exist, the folder holds nothing the runner cannot read, and
the runner's command line for a row works (slow tests)."""

import ast
import csv
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

ROWS_FOLDER = ROOT / "tests" / "recipes"
# Columns the runner reads (test_download is optional there, used here for the corpora).
COLUMNS = [
    "Task",
    "Dataset",
    "Script_file",
    "Hparam_file",
    "Data_prep_file",
    "Readme_file",
    "Result_url",
    "HF_repo",
    "test_debug_flags",
    "test_debug_checks",
]
RECIPE_YAMLS = sorted(
    str(path.relative_to(ROOT))
    for pattern in (
        "recipes/*/*/focalcodec/hparams/*.yaml",
        "recipes/LibriTTS/focalcodec/hparams/*.yaml",
        "recipes/LibriTTS/focalcodec-stream/hparams/*.yaml",
    )
    for path in ROOT.glob(pattern)
)


def read_rows():
    rows = []
    for path in sorted(ROWS_FOLDER.glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream, delimiter=",", skipinitialspace=True)
            assert reader.fieldnames[: len(COLUMNS)] == COLUMNS, path.name
            for row_id, row in enumerate(reader):
                rows.append((f"{path.stem}_row_{row_id + 2:02d}", path.stem, row))
    return rows


ROWS = read_rows()
ROW_BY_ID = {recipe_id: row for recipe_id, _, row in ROWS}


def row_dependencies(row: dict) -> dict:
    """Earlier stages a row takes from other rows: option name -> recipe id."""
    flags = shlex.split(row["test_debug_flags"])
    options = dict(flag[2:].split("=", 1) for flag in flags if "=" in flag)
    return {
        name: value[len("tests/tmp/") :]
        for name, value in options.items()
        if name.endswith("_folder") and value.startswith("tests/tmp/") and "_row_" in value
    }


def test_the_runner_can_read_the_folder():
    """The runner opens every entry but README.md and setup/ as a CSV file."""
    entries = sorted(p.name for p in ROWS_FOLDER.iterdir())
    assert entries and all(
        name.endswith(".csv") or name in ("README.md", "setup") for name in entries
    )


def test_every_recipe_yaml_has_one_row():
    covered = [row["Hparam_file"].strip() for _, _, row in ROWS]
    assert len(RECIPE_YAMLS) == 26
    assert sorted(covered) == RECIPE_YAMLS


@pytest.mark.parametrize("recipe_id, dataset, row", ROWS, ids=[r[0] for r in ROWS])
def test_row(recipe_id, dataset, row):
    assert row["Dataset"] == dataset
    for field in ("Script_file", "Hparam_file", "Data_prep_file", "Readme_file"):
        assert (ROOT / row[field].strip()).is_file(), (field, row[field])
    script = Path(row["Script_file"].strip())
    assert Path(row["Hparam_file"].strip()).parent.parent == script.parent
    flags = shlex.split(row["test_debug_flags"])
    assert flags and all(flag.startswith("--") for flag in flags), flags
    options = dict(flag[2:].split("=", 1) for flag in flags if "=" in flag)
    assert "output_folder" not in options and "device" not in options  # the runner sets them
    if "codec_source" in options:
        assert (ROOT / options["codec_source"] / "config.json").is_file()
    if not options["data_folder"].startswith("tests/tmp/"):
        assert (ROOT / options["data_folder"]).is_dir()
    # An earlier stage's folder is the output of an earlier row (the runner runs the
    # rows in order, each into tests/tmp/<recipe id>) that trains that stage.
    for name, earlier in row_dependencies(row).items():
        assert earlier in ROW_BY_ID and earlier < recipe_id, (name, earlier)
        trained = Path(ROW_BY_ID[earlier]["Hparam_file"]).stem.removeprefix("tiny_")
        assert trained.split("_")[0] == name[: -len("_folder")], (name, trained)
    checks = row["test_debug_checks"].strip()
    assert checks.startswith("file_exists=[") and checks.endswith("]")
    for command in filter(None, row.get("test_download", "").split(";")):
        ast.parse(command.strip(), mode="eval")  # the runner eval()s each command


def runner_command(recipe_id: str, row: dict, output_folder: Path) -> str:
    """The command SpeechBrain's run_recipe_tests composes for a row (CPU, debug)."""
    script = row["Script_file"].strip()
    return (
        f"PYTHONPATH={os.getcwd()}/{os.path.dirname(script)}{os.pathsep}{ROOT} python "
        f"{script} {row['Hparam_file'].strip()} {row['test_debug_flags'].strip()} "
        f"--device=cpu --output_folder={output_folder} --debug --debug_persistently"
    )


@pytest.fixture(scope="module")
def runner_outputs(tmp_path_factory):
    """Output folders of the rows run so far in this module (the runner's tests/tmp)."""
    return tmp_path_factory.mktemp("runner"), {}


def _run_like_the_runner(recipe_id: str, runner_outputs) -> Path:
    """Runs a row as the runner does, after the rows it takes stages from."""
    root, done = runner_outputs
    if recipe_id in done:
        return done[recipe_id]
    row = ROW_BY_ID[recipe_id]
    for earlier in row_dependencies(row).values():
        _run_like_the_runner(earlier, runner_outputs)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    for command in filter(None, row.get("test_download", "").split(";")):
        code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); {command.strip()}"
        subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300)
    output = root / recipe_id
    command = runner_command(recipe_id, row, output).replace(" python ", f" {sys.executable} ", 1)
    # Earlier rows' outputs (tests/tmp/<recipe id>) are in this module's folder.
    command = re.sub(r"=tests/tmp/(\w+_row_\d+)", lambda m: f"={root / m.group(1)}", command)
    result = subprocess.run(
        command, shell=True, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    done[recipe_id] = output
    return output


@pytest.mark.slow
@pytest.mark.parametrize(
    "recipe_id, dataset, row",
    [r for r in ROWS if Path(r[2]["Hparam_file"]).name.startswith("tiny_")]
    + [r for r in ROWS if r[2]["Task"] == "ASR"],
    ids=lambda value: value if isinstance(value, str) and "_row_" in value else "",
)
def test_row_runs_like_the_runner(recipe_id, dataset, row, runner_outputs, monkeypatch):
    monkeypatch.chdir(ROOT)
    output = _run_like_the_runner(recipe_id, runner_outputs)
    files = row["test_debug_checks"].strip()[len("file_exists=[") : -1].split(",")
    assert all((output / name.strip()).exists() for name in files), sorted(os.listdir(output))
