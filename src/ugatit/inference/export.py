"""Exporting one trained generator as a file that runs without this project: ONNX or TorchScript.

The exported network takes images in [-1, 1] (``[B, 3, H, W]``) and returns the translation in
[-1, 1]; with ``heatmap=True`` it also returns the attention map (U-GAT-IT's CAM), bilinearly
resized to the image, not normalised. The batch dimension is always dynamic. Light U-GAT-IT,
CycleGAN and CUT also take any height and width that are multiples of 4 (the exported graph does
not pad: pad or resize to a multiple of 4 before calling it). Full-mode U-GAT-IT flattens its
feature map into an MLP, so it only takes its training size, and the export says so.

Every export is checked before it is kept: the written file is loaded back (onnxruntime for ONNX,
``torch.jit.load`` for TorchScript) and run on a probe batch of another batch size and, where the
network allows it, another image size than the one it was traced with; its outputs must match
PyTorch's within ``TOLERANCE``. The file is written under a temporary name and renamed only then,
so a failed export never replaces an earlier file.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ugatit import atomic
from ugatit.console import quiet_exporter
from ugatit.errors import UserError
from ugatit.inference.translation import LoadedModel, check_direction, load_checkpoint
from ugatit.nets.base import Generator
from ugatit.nets.sizes import SIZE_MULTIPLE

log = logging.getLogger(__name__)

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
TOLERANCE = 1e-4  # largest accepted |exported - PyTorch| on the probe, images in [-1, 1]
TRACE_SIZE = 64  # image side the dynamic-size networks are traced with
OPSET = 18


class ExportError(UserError, ValueError):
    """An export option or result the user can fix (format, path, heatmap on a model without)."""


class ExportedGenerator(nn.Module):
    """The generator alone, returning plain tensors (the training code's NamedTuple output is not
    what a deployment runtime wants): ``image`` or ``(image, heatmap)``."""

    def __init__(self, generator: Generator, heatmap: bool) -> None:
        super().__init__()
        self.generator = generator
        self.heatmap = heatmap

    def forward(self, image: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        output = self.generator(image)
        if not self.heatmap:
            return output.image
        heatmap = F.interpolate(
            output.heatmap, size=image.shape[-2:], mode="bilinear", align_corners=False
        )
        return output.image, heatmap


@dataclasses.dataclass
class ExportReport:
    """What was written and how closely the exported file reproduces PyTorch."""

    path: Path
    format: str
    direction: str
    dynamic_size: bool
    trace_shape: tuple[int, ...]
    probe_shape: tuple[int, ...]
    max_abs_difference: float


def default_output(output_dir: str | Path, direction: str, export_format: str) -> Path:
    return Path(output_dir) / f"generator_{direction}{FORMATS[export_format]}"


def _check_format(export_format: str) -> str:
    if export_format not in FORMATS:
        raise ExportError(f"format={export_format!r} is invalid; use {' or '.join(FORMATS)}.")
    return export_format


def _check_output(output: Path, export_format: str, overwrite: bool) -> Path:
    if output.suffix != FORMATS[export_format]:
        raise ExportError(
            f"output '{output}' does not end in {FORMATS[export_format]}, the extension of "
            f"format={export_format} files; name it e.g. "
            f"'{output.with_suffix(FORMATS[export_format]).name}'."
        )
    if output.is_dir():
        raise ExportError(f"output '{output}' is a folder; pass a file path.")
    if output.exists() and not overwrite:
        raise ExportError(
            f"output '{output}' already exists; choose another path, or set overwrite=true to "
            "replace it."
        )
    atomic.check_writable(output.parent, f"the exported {export_format} file", ExportError)
    return output


def _probe(batch: int, size: tuple[int, int], seed: int) -> Tensor:
    """Seeded images in [-1, 1] on the CPU, where the export runs."""
    noise = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, *size, generator=noise) * 2 - 1


def _sizes(generator: Generator) -> tuple[tuple[int, int], tuple[int, int]]:
    """The traced size, and the probe size (another one when the network takes any size)."""
    if generator.fixed_size is not None:
        side = generator.fixed_size
        return (side, side), (side, side)
    return (TRACE_SIZE, TRACE_SIZE), (TRACE_SIZE + 2 * SIZE_MULTIPLE, TRACE_SIZE - SIZE_MULTIPLE)


def _as_tuple(outputs: Any) -> tuple[Tensor, ...]:
    return tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)


def _write_onnx(wrapper: ExportedGenerator, example: Tensor, path: Path, metadata: dict) -> None:
    import onnx
    from torch.export import Dim

    dims: dict[int, Any] = {0: Dim("batch", min=1, max=1024)}
    if wrapper.generator.fixed_size is None:
        dims[2] = SIZE_MULTIPLE * Dim("height_over_4", min=2, max=4096)
        dims[3] = SIZE_MULTIPLE * Dim("width_over_4", min=2, max=4096)
    names = ["image", "heatmap"] if wrapper.heatmap else ["image"]
    with warnings.catch_warnings(), quiet_exporter():
        warnings.simplefilter("ignore")  # the exporter's notes on its own internals
        program = torch.onnx.export(
            wrapper,
            (example,),
            dynamo=True,
            input_names=["input"],
            output_names=names,
            dynamic_shapes=(dims,),
            opset_version=OPSET,
            verbose=False,
        )
    program.save(str(path))
    model = onnx.load(str(path))
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(path))


def _run_onnx(path: Path, probe: Tensor) -> tuple[Tensor, ...]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: probe.numpy()})
    return tuple(torch.from_numpy(o) for o in outputs)


def _write_torchscript(
    wrapper: ExportedGenerator, example: Tensor, path: Path, metadata: dict
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on shape checks and jit's deprecation
        traced = torch.jit.trace(wrapper, example, check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={"ugatit.json": json.dumps(metadata)})


def _run_torchscript(path: Path, probe: Tensor) -> tuple[Tensor, ...]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(str(path), map_location="cpu")
        with torch.no_grad():
            return _as_tuple(module(probe))


WRITERS = {"onnx": (_write_onnx, _run_onnx), "torchscript": (_write_torchscript, _run_torchscript)}


def _metadata(loaded: LoadedModel, direction: str, heatmap: bool) -> dict[str, Any]:
    generator = loaded.module.output_generator(direction)
    return {
        "source_checkpoint": loaded.path.name,
        "iteration": loaded.iteration,
        "method": type(loaded.module).__name__,
        "generator": type(generator).__name__,
        "direction": direction,
        "input": "RGB [B, 3, H, W] in [-1, 1]",
        "outputs": "image in [-1, 1]" + (", heatmap (not normalised)" if heatmap else ""),
        "size": (
            f"{generator.fixed_size}x{generator.fixed_size} only"
            if generator.fixed_size
            else f"any height and width that are multiples of {SIZE_MULTIPLE}"
        ),
    }


def export_generator(
    loaded: LoadedModel,
    output: str | Path,
    *,
    direction: str = "a2b",
    export_format: str = "onnx",
    heatmap: bool = False,
    overwrite: bool = False,
) -> ExportReport:
    """Write ``direction``'s generator (the EMA average when the run kept one) to ``output``,
    check the written file against PyTorch, and keep it only when it matches."""
    _check_format(export_format)
    loaded.require_direction(check_direction(direction))
    output = _check_output(Path(str(output)).expanduser(), export_format, overwrite)
    generator = loaded.module.output_generator(direction).cpu().eval()
    if heatmap and not generator.has_attention:
        raise ExportError(
            f"heatmap=true needs a generator with CAM attention; this checkpoint's "
            f"{type(generator).__name__} has none. Export with heatmap=false."
        )
    wrapper = ExportedGenerator(generator, heatmap).eval()
    trace_size, probe_size = _sizes(generator)
    example = _probe(2, trace_size, seed=0)
    probe = _probe(3, probe_size, seed=1)
    write, run = WRITERS[export_format]
    with atomic.atomic_path(output) as partial:  # kept only when it matches PyTorch
        with torch.no_grad():
            write(wrapper, example, partial, _metadata(loaded, direction, heatmap))
            expected = _as_tuple(wrapper(probe))
        got = run(partial, probe)
        difference = max(
            (e.float() - g.float()).abs().max().item() for e, g in zip(expected, got, strict=True)
        )
        if difference > TOLERANCE:
            raise ExportError(
                f"The exported {export_format} file differs from PyTorch by {difference:.2e} "
                f"(more than {TOLERANCE:g}) on a {tuple(probe.shape)} probe; nothing was written."
            )
    report = ExportReport(
        output,
        export_format,
        direction,
        generator.fixed_size is None,
        tuple(example.shape),
        tuple(probe.shape),
        difference,
    )
    log.info(
        "Exported %s (%s) to %s; on a %s probe it matches PyTorch within %.1e.%s",
        direction,
        export_format,
        output,
        "x".join(map(str, report.probe_shape)),
        difference,
        ""
        if report.dynamic_size
        else f" Full mode: inputs must be {generator.fixed_size}x{generator.fixed_size}.",
    )
    return report


def export(cfg: Any) -> ExportReport:
    """What src/export.py runs."""
    export_format = _check_format(str(cfg.format))
    direction = check_direction(str(cfg.direction))
    output = cfg.get("output") or default_output(cfg.paths.output_dir, direction, export_format)
    loaded = load_checkpoint(cfg.ckpt_path, "cpu")
    return export_generator(
        loaded,
        output,
        direction=direction,
        export_format=export_format,
        heatmap=bool(cfg.get("heatmap", False)),
        overwrite=bool(cfg.get("overwrite", False)),
    )
