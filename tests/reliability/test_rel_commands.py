"""Command-line mistakes end in one message naming the fix: an unquoted ~ in an override, the
wrong converter for a file, and a sweep whose job fails (the rest still run; the failures are
named at the end, status 1)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from helpers import ROOT
from helpers.port_reference import cut_generator_state
from ugatit.entry import check_command_line
from ugatit.tools.convert import ConversionError, convert_cut, convert_ugatit


@pytest.mark.parametrize("argument", ["data.root=~/x", "input=/data/~x/photos"])
def test_an_unquoted_tilde_names_the_fix(argument, capsys):
    with pytest.raises(SystemExit) as info:
        check_command_line(["trainer=cpu", argument])
    assert info.value.code == 1
    message = capsys.readouterr().err
    key, _, value = argument.partition("=")
    assert f"the override {argument!r} cannot be read" in message
    assert f"\"{key}='{value}'\"" in message and "$HOME" in message


def test_overrides_hydra_reads_pass(capsys):
    check_command_line(["-m", "data.root='~/x'", "model.optimizer.lr=0.1,0.2", "--cfg", "job"])
    assert capsys.readouterr().err == ""


def test_each_converter_names_the_right_one_for_the_other_kinds_of_file(tmp_path):
    cut_file = tmp_path / "latest_net_G.pth"
    torch.save(cut_generator_state(4, 1), cut_file)
    with pytest.raises(
        ConversionError, match=r"CUT / FastCUT generator .*: use .python src/convert\.py cut FILE"
    ):
        convert_ugatit(cut_file, tmp_path / "u.ckpt")
    port_file = tmp_path / "port.pt"
    torch.save({"genA2B": {"DownBlock.1.weight": torch.zeros(1)}, "genB2A": {}}, port_file)
    with pytest.raises(ConversionError, match=r"U-GAT-IT PyTorch-port file: use .*ugatit FILE"):
        convert_cut(port_file, tmp_path / "c.ckpt")


def test_a_failing_sweep_job_does_not_stop_the_others(tmp_path, shapes_dir):
    command = [
        sys.executable,
        str(ROOT / "src" / "train.py"),
        "-m",
        "experiment=quickstart",
        "model.optimizer.lr=0.0002,-1,0.0001",
        "train=false",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        f"paths.data_dir={shapes_dir}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "1 of 3 sweep job(s) failed and the others ran to the end" in result.stderr
    assert "#1 (experiment=quickstart model.optimizer.lr=-1 train=False" in result.stderr
    assert "): model.optimizer.lr=-1 is invalid: it must be a finite number > 0." in result.stderr
    jobs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert jobs == ["0", "1", "2"]  # the third job ran after the second failed
    assert (tmp_path / "sweep" / "2" / ".hydra" / "config.yaml").is_file()
