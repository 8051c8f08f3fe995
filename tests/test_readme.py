"""README.md tells the truth: its quickstart runs and CI runs its commands."""

import re

from tests.conftest import GOLDEN, ROOT

README = (ROOT / "README.md").read_text()


def code_blocks(language: str) -> list:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_quickstart_runs_offline(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    quickstart = code_blocks("python")[0]
    assert 'FocalCodec.from_pretrained("lucadellalib/focalcodec_50hz")' in quickstart
    local = quickstart.replace("lucadellalib/focalcodec_50hz", str(GOLDEN / "tiny_50hz"))
    exec(compile(local, "README quickstart", "exec"), {})
    assert "torch.Size([1, 104]) 650 bit/s torch.Size([1, 33280])" in capsys.readouterr().out


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    install, main_job, test = code_blocks("bash")[:3]
    assert install.strip().replace("pip install", "python -m pip install") in ci
    assert test.strip() in ci
    # The main job is the recipe's demo, which the recipe tests run (debug flags).
    assert main_job.strip() == "python recipes/LibriTTS/focalcodec/demo.py"
    assert (ROOT / main_job.split()[1]).is_file()
