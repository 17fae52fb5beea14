"""Beyond one machine: a two-node run simulated with two torchrun launches on this machine, and a
SLURM job with its environment faked (run folder from SLURM_JOB_ID, requeue checkpoints)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from helpers import CONF, ROOT
from ugatit.tools.demo_browser import free_port
from ugatit.training.resume import choose_checkpoint

TINY = [
    "experiment=quickstart",
    "model.generator.ngf=8",
    "model.discriminator.ndf=8",
    "data.val_samples=0",
    "++callbacks.shape_metric=null",
    "callbacks.sample_grid=null",
    "callbacks.progress_bar=null",
    "logger=csv",
]
FAKE_SLURM = {
    "SLURM_JOB_ID": "4242",
    "SLURM_JOB_NAME": "train",
    "SLURM_NTASKS": "1",
    "SLURM_NNODES": "1",
    "SLURM_PROCID": "0",
    "SLURM_LOCALID": "0",
    "SLURM_NODEID": "0",
}


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "PL_", "MASTER_"))}
    helpers = str(ROOT / "tests" / "helpers")
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": helpers, **extra}


def reports(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("rank*.json"))]


# --------------------------------------------------------------------------- two nodes
def launch_two_nodes(run_dir: Path, data_dir: Path, report: Path, extra: list[str]) -> None:
    """Two torchrun launches, one per "node", one CPU process each (gloo), as on two machines."""
    port = free_port()
    common = [
        "trainer=ddp_multinode",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "trainer.num_nodes=2",
        f"hydra.run.dir={run_dir}",  # on real nodes without SLURM, name the folder yourself
        f"paths.data_dir={data_dir}",
        "+callbacks.rank_report._target_=rank_report.RankReport",
        f"+callbacks.rank_report.out={report}",
        *TINY,
        *extra,
    ]
    # each node's output goes to a file: a pipe read one node after the other can fill up and
    # block the other node inside a collective, which then never returns
    logs = [report.parent / f"{report.name}-node{rank}.log" for rank in (0, 1)]
    nodes = []
    for rank, log_path in enumerate(logs):
        with log_path.open("w") as log_file:
            nodes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "torch.distributed.run",
                        "--nnodes",
                        "2",
                        "--node_rank",
                        str(rank),
                        "--nproc_per_node",
                        "1",
                        "--master_addr",
                        "127.0.0.1",
                        "--master_port",
                        str(port),
                        str(ROOT / "src" / "train.py"),
                        *common,
                    ],
                    cwd=ROOT,
                    env=environment(),
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        for node in nodes:
            node.wait(timeout=300)
    finally:
        for node in nodes:
            if node.poll() is None:  # a node still waiting after the timeout
                node.kill()
    for node, log_path in zip(nodes, logs, strict=True):
        assert node.returncode == 0, log_path.read_text()[-3000:]


def test_two_torchrun_nodes_train_in_lockstep_into_one_run_folder_and_resume(tmp_path, shapes_dir):
    run_dir = tmp_path / "run"
    launch_two_nodes(run_dir, shapes_dir, tmp_path / "first", ["model.schedule.max_iterations=3"])
    first = reports(tmp_path / "first")
    assert [(r["rank"], r["world_size"], r["num_nodes"]) for r in first] == [(0, 2, 2), (1, 2, 2)]
    assert [r["iteration"] for r in first] == [3, 3]
    assert first[0]["checksum"] == first[1]["checksum"]  # gradients averaged across the nodes
    assert not set(first[0]["paths"]) & set(first[1]["paths"])  # each node its own images
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["iteration"] == 3
    # both nodes start again in the same folder with a longer schedule: it continues
    launch_two_nodes(
        run_dir,
        shapes_dir,
        tmp_path / "second",
        ["model.schedule.max_iterations=5", "resume=force"],
    )
    second = reports(tmp_path / "second")
    assert [r["iteration"] for r in second] == [5, 5]
    assert [len(r["paths"]) for r in second] == [2, 2]  # iterations 4 and 5 only
    assert second[0]["checksum"] == second[1]["checksum"] != first[0]["checksum"]


# --------------------------------------------------------------------------- SLURM
def test_the_slurm_job_id_names_the_run_folder(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("PROJECT_ROOT", str(ROOT))
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", return_hydra_config=True)
    run_dir = OmegaConf.to_container(cfg.hydra.run, resolve=True)["dir"]
    assert Path(run_dir).parts[-3:] == ("train", "runs", "4242")


def fake_checkpoint(path: Path, iteration: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {}, "hyper_parameters": {}, "iteration": iteration}, path)
    return path


def test_a_requeue_checkpoint_further_along_than_last_ckpt_is_resumed(tmp_path):
    folder = tmp_path / "checkpoints"
    fake_checkpoint(folder / "last.ckpt", 200)
    newer = fake_checkpoint(tmp_path / "hpc_ckpt_1.ckpt", 260)
    assert choose_checkpoint(None, folder, tmp_path) == str(newer)
    # a broken newest requeue file is passed over, the next one is used
    (tmp_path / "hpc_ckpt_2.ckpt").write_bytes(b"cut short")
    assert choose_checkpoint(None, folder, tmp_path) == str(newer)
    # an older requeue checkpoint loses to last.ckpt
    fake_checkpoint(tmp_path / "hpc_ckpt_3.ckpt", 100)
    (tmp_path / "hpc_ckpt_1.ckpt").unlink()
    assert choose_checkpoint(None, folder, tmp_path) == str(folder / "last.ckpt")
    # a run folder with only a requeue checkpoint (or a broken last.ckpt) still resumes
    (folder / "last.ckpt").write_bytes(b"broken")
    assert choose_checkpoint(None, folder, tmp_path) == str(tmp_path / "hpc_ckpt_3.ckpt")
    shutil.rmtree(folder)
    assert choose_checkpoint(None, folder, tmp_path) == str(tmp_path / "hpc_ckpt_3.ckpt")


def test_a_faked_slurm_job_trains_into_its_job_folder_and_its_requeue_continues(
    tmp_path, shapes_dir
):
    def run_job(extra: list[str], report: Path) -> None:
        command = [
            sys.executable,
            str(ROOT / "src" / "train.py"),
            f"paths.log_dir={tmp_path / 'logs'}",
            f"paths.data_dir={shapes_dir}",
            "+callbacks.rank_report._target_=rank_report.RankReport",
            f"+callbacks.rank_report.out={report}",
            *TINY,
            *extra,
        ]
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=environment(**FAKE_SLURM),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]

    run_job(["model.schedule.max_iterations=2"], tmp_path / "first")
    job_folder = tmp_path / "logs" / "train" / "runs" / "4242"
    assert torch.load(job_folder / "checkpoints" / "last.ckpt", weights_only=True)["iteration"] == 2
    # the requeued job (same SLURM_JOB_ID) lands in the same folder and continues from there
    run_job(["model.schedule.max_iterations=3", "resume=force"], tmp_path / "second")
    (report,) = reports(tmp_path / "second")
    assert report["iteration"] == 3 and len(report["paths"]) == 1
    assert (job_folder / "checkpoints" / "last.ckpt").is_file()
    assert list((tmp_path / "logs" / "train" / "runs").iterdir()) == [job_folder]
