"""Which checkpoint a training run starts from, checked before anything is built or written.

``ckpt_path`` given: it must be a readable checkpoint of this project (the safe loader,
memory-mapped, so only the pickle is read) or the run stops with one message.

Otherwise the run folder's own ``checkpoints/``: a requeued job (SLURM, submitit) or a crashed
run started again continues from the newest complete checkpoint there, by the iteration each
file holds: ``last.ckpt``, the periodic ``iter_*.ckpt`` and a ``last-vN.ckpt`` an older version
wrote beside it. A file that does not load is named in the log (file and reason) and kept as
``NAME.broken``. When no checkpoint there loads, the run stops with a message naming the files
and the fix: starting over silently would overwrite a long run's folder (its checkpoints,
samples and metrics).
"""

from __future__ import annotations

import contextlib
import logging
import re
from pathlib import Path
from typing import Any

from lightning_fabric.utilities.rank_zero import rank_zero_only
from torch import nn

from ugatit.checkpoints.files import CheckpointError, load_checkpoint_file, require_entries
from ugatit.checkpoints.methods import check_stored_settings
from ugatit.checkpoints.models import check_weights_fit

log = logging.getLogger(__name__)

RESUME_KEYS = ("state_dict", "hyper_parameters", "iteration")
LAST = "last.ckpt"
# what a run's checkpoint callbacks write: last.ckpt (last-vN.ckpt from versions that versioned
# it) and the periodic files; not nonfinite_iter_*.ckpt, which a user resumes on purpose
_OWN = re.compile(r"last(-v\d+)?\.ckpt|iter_\d+\.ckpt")
_HPC = re.compile(r"hpc_ckpt_(\d+)\.ckpt")  # Lightning's SLURM requeue checkpoints


def read_resumable(path: str | Path, label: str | None = None) -> dict[str, Any]:
    """The checkpoint, memory-mapped, if it is one of this project that training can resume."""
    label = label or f"ckpt_path '{path}'"
    return require_entries(load_checkpoint_file(path, label), label, RESUME_KEYS)


def _numbered(folder: Path, pattern: re.Pattern[str]) -> list[Path]:
    """The checkpoints in ``folder`` whose names match ``pattern`` (its group 1 a number), the
    highest number first."""
    found = [
        (int(m.group(1)), p) for p in folder.glob("*.ckpt") if (m := pattern.fullmatch(p.name))
    ]
    return [p for _, p in sorted(found, reverse=True)]


def _set_aside(path: Path) -> Path:
    """Rename an unreadable checkpoint so that nothing resumes it or saves beside it as -v1.

    Only the first process renames: under SLURM every rank chooses at the same time (and each
    finds the same checkpoint, as a renamed file reads as missing).
    """
    target = path.with_name(f"{path.name}.broken")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.broken-{n}")
    if rank_zero_only.rank == 0:
        with contextlib.suppress(FileNotFoundError):
            path.rename(target)
    return target


def _newest_requeue_checkpoint(run_folder: Path | None) -> tuple[int, Path] | None:
    """The newest readable ``hpc_ckpt_N.ckpt`` and its iteration (unreadable ones are skipped
    with a warning: the regular checkpoints are the fallback)."""
    for path in [] if run_folder is None else _numbered(run_folder, _HPC):
        try:
            return int(read_resumable(path, str(path))["iteration"]), path
        except CheckpointError as error:
            log.warning("Passing over %s: %s", path, error)
    return None


def choose_checkpoint(
    ckpt_path: str | None, folder: str | Path, run_folder: str | Path | None = None
) -> str | None:
    """``ckpt_path`` (checked), else the newest complete checkpoint of the run folder, else None.

    The run folder's own checkpoints: the one of ``folder``'s ``last.ckpt``, ``last-vN.ckpt`` and
    ``iter_*.ckpt`` at the highest iteration (``last.ckpt`` of equal ones); and a SLURM requeue
    checkpoint (``run_folder/hpc_ckpt_N.ckpt``, written by
    Lightning when the job is preempted or hits its time limit) when it is further along.
    Unreadable ones passed over are kept as ``NAME.broken``; with no complete one left the run
    stops (nothing renamed), since starting over would overwrite the folder."""
    if ckpt_path:
        read_resumable(ckpt_path)
        return str(ckpt_path)
    requeue = _newest_requeue_checkpoint(None if run_folder is None else Path(run_folder))
    regular = _regular_checkpoint(Path(folder), can_fall_back=requeue is not None)
    found = [c for c in (regular, requeue) if c is not None]
    if not found:
        return None
    iteration, path = max(found, key=lambda c: c[0])  # of equal ones, the regular checkpoint
    kind = "requeue checkpoint" if regular is None or path != regular[1] else "own checkpoint"
    log.info("Resuming this run folder's %s (iteration %d): %s", kind, iteration, path)
    return str(path)


def _own_checkpoints(folder: Path) -> list[Path]:
    """``last.ckpt`` first, then the other files a run's callbacks write, by name."""
    found = [p for p in folder.glob("*.ckpt") if _OWN.fullmatch(p.name) and p.is_file()]
    return sorted(found, key=lambda p: (p.name != LAST, p.name))


def _regular_checkpoint(folder: Path, can_fall_back: bool) -> tuple[int, Path] | None:
    """The complete checkpoint of ``folder`` at the highest iteration and that iteration, or
    None; with none complete, an error unless ``can_fall_back`` (a requeue checkpoint)."""
    complete: list[tuple[int, Path]] = []
    broken: list[tuple[Path, str]] = []
    for path in _own_checkpoints(folder):
        try:
            complete.append((int(read_resumable(path, str(path))["iteration"]), path))
        except CheckpointError as error:
            broken.append((path, str(error)))
    if complete:
        # the highest iteration; of equal ones the first listed (last.ckpt)
        iteration, path = max(complete, key=lambda c: (c[0], -complete.index(c)))
        for bad, reason in broken:
            log.warning(
                "This run folder's %s cannot be resumed (%s); kept as %s. Resuming %s, the newest "
                "complete checkpoint, instead.",
                bad,
                reason,
                _set_aside(bad).name,
                path,
            )
        return iteration, path
    if not broken or can_fall_back:
        return None
    reasons = " ".join(reason for _, reason in broken)
    names = ", ".join(str(p) for p, _ in broken)
    raise CheckpointError(
        f"This run folder's checkpoints cannot be resumed: {reasons} No complete checkpoint is "
        f"left in {folder}. Delete {names} to start this run over (its other files are then "
        "overwritten), pass ckpt_path=... to resume another checkpoint, or start a new run folder."
    )


def check_fits_model(path: str | Path, model: nn.Module) -> None:
    """One message in words when the checkpoint's settings name anything but this project's
    networks and method, or its networks are not the ones ``model`` has."""
    label = f"ckpt_path '{path}'"
    checkpoint = read_resumable(path, label)
    check_stored_settings(checkpoint, label)
    check_weights_fit(checkpoint, model, label)
