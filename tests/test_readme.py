"""The README's quick-start commands run as written (tiny sizes appended as overrides)."""

import os
import re
import shlex
import subprocess
import sys

from helpers import ROOT

README = (ROOT / "README.md").read_text()
TINY = [
    "model.schedule.max_iterations=3",
    "model.generator.ngf=8",
    "model.discriminator.ndf=8",
    "data.val_samples=2",
    "callbacks.progress_bar=null",
]


def readme_command(script: str) -> list[str]:
    """The README's command line that runs ``src/<script>.py``: for train the quick start
    (``experiment=quickstart`` without a checkpoint), for the others the one on a run's
    checkpoint."""
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        for line in block.splitlines():
            line = line.split("#")[0].strip()
            if not line.startswith(f"python src/{script}.py"):
                continue
            if (
                script == "train"
                and "experiment=quickstart" in line
                and "=" not in line.replace("experiment=quickstart", "").replace("trainer=cpu", "")
            ):
                return shlex.split(line)
            if script != "train" and "ckpt_path=logs" in line:
                return shlex.split(line)
    raise AssertionError(f"no `python src/{script}.py` command in README.md")


def run(command: list[str], cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PROJECT_ROOT": str(cwd)}
    command = [sys.executable if part == "python" else part for part in command]
    command[1] = str(ROOT / command[1])
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_quick_start_then_eval_then_translate_as_the_readme_writes_them(tmp_path):
    # a scratch project root: logs/ and data/ land there, as they would in a fresh clone
    train = run(readme_command("train") + TINY, tmp_path)
    assert train.returncode == 0, train.stderr[-3000:]
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    assert list((run_dir / "samples").glob("*.png"))

    eval_command = [p.replace("<run>", run_dir.name) for p in readme_command("eval")]
    evaluation = run(eval_command + ["max_images=4", "kid_subsets=5"], tmp_path)
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]
    assert "fid" in (evaluation.stdout + evaluation.stderr).lower()

    translate_command = [p.replace("<run>", run_dir.name) for p in readme_command("translate")]
    translation = run(translate_command, tmp_path)
    assert translation.returncode == 0, translation.stderr[-3000:]
    outputs = list((tmp_path / "translated").glob("*.png"))
    inputs = list((tmp_path / "data" / "shapes" / "round_rect" / "testA").glob("*.png"))
    assert len(outputs) == len(inputs) > 0


def test_own_data_command_trains_on_a_folder_as_written(tmp_path):
    """The README's command for a folder of 64-px images (its ROOT replaced by a small one)."""
    from ugatit.data.shapes import ensure_shapes

    root = ensure_shapes(tmp_path / "mine", image_size=64, n_train=4, n_test=2)
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        lines = [line for line in block.splitlines() if "model=ugatit_small data=folder" in line]
        if lines:
            command = shlex.split(lines[0].split("#")[0])
            break
    else:
        raise AssertionError("no data=folder command in README.md")
    assert "data.root=/path/to/ROOT" in command
    command = [f"data.root={root}" if p == "data.root=/path/to/ROOT" else p for p in command]
    train = run(command + TINY + ["data.val_samples=2"], tmp_path)
    assert train.returncode == 0, train.stderr[-3000:]
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    config = (run_dir / ".hydra" / "config.yaml").read_text()
    assert "crop_size: 64" in config and "ngf: 8" in config and "ema_decay: 0.997" in config
