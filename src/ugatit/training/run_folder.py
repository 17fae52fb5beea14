"""A run folder holds one configuration: a rerun there with other settings is refused.

A run started in a folder that already has checkpoints continues from them (a requeued job, a
crashed run started again). With a changed configuration that would silently mix two settings and
overwrite the folder's ``.hydra/config.yaml``, so the Hydra callback below stops before Hydra
writes anything, naming the keys that differ; ``resume=force`` continues anyway and keeps the
earlier configuration as ``.hydra/config.previous-N.yaml``.
"""

from __future__ import annotations

import copy
import logging
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from ugatit.atomic import check_writable
from ugatit.errors import ConfigError, UserError
from ugatit.training.run_lock import hold_run_folder, release_run_folder

log = logging.getLogger(__name__)

# Keys that say how to start, not what is trained.
IGNORED_KEYS = ("resume", "ckpt_path")
_SHOWN = 8  # differing keys named in the message


class _Absent:
    """A key the other configuration does not have (shown as such in the message)."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT = _Absent()


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings -> {"a.b.c": value}; lists stay values."""
    if not isinstance(config, Mapping):
        return {prefix: config}
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def differing_keys(
    old: Mapping[str, Any], new: Mapping[str, Any], ignored: Iterable[str] = IGNORED_KEYS
) -> list[tuple[str, Any, Any]]:
    """(key, old value, new value) for every key whose value differs, ignored keys left out; a
    key one side lacks has the value ABSENT there (a group set to null is then not "None -> None")."""
    before, after = flatten(old), flatten(new)
    skip = tuple(ignored)
    changes = []
    for key in sorted(set(before) | set(after)):
        if key in skip or key.startswith(tuple(f"{s}." for s in skip)):
            continue
        a, b = before.get(key, ABSENT), after.get(key, ABSENT)
        if a != b:
            changes.append((key, a, b))
    return changes


def _task_config(config: DictConfig) -> dict[str, Any]:
    """The config Hydra saves as .hydra/config.yaml: everything but the hydra node, unresolved."""
    task = copy.deepcopy(config)
    with read_write(task), open_dict(task):
        task.pop("hydra", None)
    return OmegaConf.to_container(task, resolve=False)


def _keep_previous(saved: Path) -> Path:
    n = len(list(saved.parent.glob("config.previous-*.yaml"))) + 1
    kept = saved.with_name(f"config.previous-{n}.yaml")
    shutil.copy2(saved, kept)
    return kept


def check_run_folder(config: DictConfig) -> None:
    """Refuse (exit status 1) to continue a run folder's checkpoints under another configuration."""
    folder = Path(str(config.hydra.run.dir))
    saved = folder / ".hydra" / "config.yaml"
    if not saved.is_file() or not any((folder / "checkpoints").glob("*.ckpt")):
        return
    changes = differing_keys(OmegaConf.to_container(OmegaConf.load(saved)), _task_config(config))
    if not changes:
        return
    shown = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in changes[:_SHOWN])
    more = f" and {len(changes) - _SHOWN} more" if len(changes) > _SHOWN else ""
    if str(config.get("resume", "auto")) == "force":
        kept = _keep_previous(saved)
        log.warning(
            "resume=force: continuing %s with changed settings (%s%s); the earlier "
            "configuration is kept as %s",
            folder,
            shown,
            more,
            kept,
        )
        return
    print(
        f"\nError: the run folder '{folder}' already holds checkpoints of a run with another "
        f"configuration ({shown}{more}). Continuing it would mix two settings in one run. Start "
        "a new run folder (leave hydra.run.dir unset), or add resume=force to continue this run "
        "with the new settings (its earlier configuration is kept as "
        ".hydra/config.previous-N.yaml).",
        file=sys.stderr,
    )
    sys.exit(1)


def _refuse(error: UserError) -> None:
    """Hydra callbacks run outside the entry point's guard: print its one message, exit 1."""
    print(f"\nError: {error}", file=sys.stderr)
    sys.exit(1)


class RunFolderGuard(Callback):
    """Hydra callback: before Hydra writes the run's .hydra files, the run folder is checked to
    be writable, locked for this process (:mod:`ugatit.training.run_lock`) and compared with
    the configuration of the checkpoints it holds (:func:`check_run_folder`). A multirun's jobs
    each lock their own folder while they run."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(str(config.hydra.run.dir))
        try:
            check_writable(_existing_parent(folder), "the run folder", ConfigError)
            hold_run_folder(folder)
        except UserError as error:
            _refuse(error)
        check_run_folder(config)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if _is_multirun(config):
            try:
                hold_run_folder(config.hydra.runtime.output_dir)
            except UserError as error:
                _refuse(error)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if _is_multirun(config):
            release_run_folder(config.hydra.runtime.output_dir)


def _is_multirun(config: DictConfig) -> bool:
    return str(OmegaConf.select(config, "hydra.mode", default="")).endswith("MULTIRUN")


def _existing_parent(folder: Path) -> Path:
    """The folder, or its nearest existing parent (where Hydra will create it)."""
    folder = folder.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder
