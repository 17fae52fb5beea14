"""notebooks/explore.ipynb runs top to bottom (U-GAT-IT trained inside it, a CycleGAN and a CUT checkpoint)
and is committed without outputs."""

import ast
import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from PIL import Image

from helpers import ROOT, fit, tiny_module
from helpers.port_reference import cut_generator_state
from ugatit.tools.convert import convert_cut

NOTEBOOK = ROOT / "notebooks" / "explore.ipynb"
CELL_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory) -> Path:
    """A ``python3`` kernel spec that runs this interpreter (the project's venv), whatever kernels
    are installed for the user: a fresh venv may never have run ``ipykernel install``."""
    folder = tmp_path_factory.mktemp("kernels") / "python3"
    folder.mkdir()
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (project venv)",
        "language": "python",
    }
    (folder / "kernel.json").write_text(json.dumps(spec))
    return folder.parent


def with_parameters(notebook: nbformat.NotebookNode, **values: str) -> nbformat.NotebookNode:
    """Rewrite ``NAME = ...`` lines of the parameters cell (fails if a name is missing)."""
    cell = notebook.cells[1]
    assert "parameters" in cell.metadata.get("tags", [])
    for name, value in values.items():
        cell.source, count = re.subn(
            rf"^{name} = .*$", f"{name} = {value}", cell.source, flags=re.MULTILINE
        )
        assert count == 1, f"parameter {name} not found in the first code cell"
    return notebook


def execute(notebook: nbformat.NotebookNode, kernel_dir: Path) -> nbformat.NotebookNode:
    manager = KernelManager(
        kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)])
    )
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=CELL_TIMEOUT_S,
        allow_errors=True,
        resources={"metadata": {"path": str(ROOT)}},  # the kernel's working directory
    )
    # One thread: the suite shares two cores; oversubscribed threads slow training tenfold.
    client.execute(env={**os.environ, "OMP_NUM_THREADS": "1"})
    return notebook


def outputs(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def errors(notebook: nbformat.NotebookNode) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in outputs(notebook) if o.output_type == "error"]


def pictures(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for o in outputs(notebook))


def printed(notebook: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in outputs(notebook) if o.output_type == "stream")


def test_committed_notebook_has_no_outputs_and_the_documented_parameters():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] for cell in code)
    assert all(cell.execution_count is None for cell in code)
    assert notebook.cells[0].cell_type == "markdown"
    parameters = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(code[0].source).body
        if isinstance(node, ast.Assign)
    }
    assert parameters["CKPT_PATH"] is None
    assert parameters["TRAIN_ITERATIONS"] == 60
    assert parameters["N_IMAGES"] == 4


def test_notebook_trains_a_small_ugatit_and_draws_everything(tmp_path, kernel_dir):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with_parameters(notebook, TRAIN_ITERATIONS="20", N_IMAGES="2", RUN_DIR=repr(str(tmp_path)))
    execute(notebook, kernel_dir)
    assert errors(notebook) == []
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "csv" / "metrics.csv").is_file()
    # translations a2b and b2a, discriminators of A and B, rho chart, learning curves
    assert pictures(notebook) == 6
    markdown = [
        o.data["text/markdown"] for o in outputs(notebook) if "text/markdown" in o.get("data", {})
    ]
    assert len(markdown) == 1 and "| generator_ab | UpBlock1_1.norm1 | AdaLIN |" in markdown[0]
    assert "iteration 20" in printed(notebook)
    assert "no CAM attention" not in printed(notebook)


def run_on_checkpoint(ckpt: Path, tmp_path: Path, kernel_dir: Path) -> nbformat.NotebookNode:
    """The notebook on ``ckpt`` with two small test images per domain, executed."""
    for split in ("testA", "testB"):
        (tmp_path / "data" / split).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (40, 40), (40 * i, 90, 200)).save(
                tmp_path / "data" / split / f"{i}.png"
            )
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with_parameters(
        notebook,
        CKPT_PATH=repr(str(ckpt)),
        N_IMAGES="2",
        DATA_ROOT=repr(str(tmp_path / "data")),
        IMAGE_SIZE="32",
    )
    return execute(notebook, kernel_dir)


def test_notebook_explains_what_a_cyclegan_checkpoint_lacks(tmp_path, kernel_dir):
    module = tiny_module()
    trainer = fit(module)
    ckpt = tmp_path / "cyclegan.ckpt"
    trainer.save_checkpoint(ckpt)
    notebook = run_on_checkpoint(ckpt, tmp_path, kernel_dir)
    assert errors(notebook) == []
    text = printed(notebook)
    assert "ResnetGenerator generators" in text
    assert "2 + 2 test images of 32 px" in text
    assert "generators have no CAM attention" in text
    assert "discriminators have no CAM attention" in text
    assert "no rho" in text
    assert "No csv/metrics.csv" in text
    # translations both ways and both domains' discriminators; no rho chart, no curves
    assert pictures(notebook) == 4


def test_notebook_shows_a_one_sided_cut_checkpoint_in_its_one_direction(tmp_path, kernel_dir):
    source = tmp_path / "latest_net_G.pth"
    torch.save(cut_generator_state(ngf=4, n_blocks=2), source)
    ckpt = convert_cut(source, tmp_path / "cut.ckpt").output
    notebook = run_on_checkpoint(ckpt, tmp_path, kernel_dir)
    assert errors(notebook) == []
    text = printed(notebook)
    assert "CutGenerator generators" in text
    assert "ContrastiveTranslation is one-sided: it translates a2b only" in text
    assert "The B discriminators have no CAM attention" in text and "no rho" in text
    # the a2b translations and domain B's discriminator only
    assert pictures(notebook) == 2
