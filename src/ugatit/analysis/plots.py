"""Matplotlib figures of translations, discriminator attention, rho and learning curves. Figures
are ``matplotlib.figure.Figure``, not pyplot, so nothing depends on the backend: a notebook shows
them with ``display(fig)``, a script saves them with ``fig.savefig``; columns a model lacks
(heatmaps, rho) are left out instead of failing."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure
from torch import Tensor, nn

from ugatit.analysis.inspection import RhoRow, discriminator_heatmaps, translate
from ugatit.analysis.runs import Curve
from ugatit.errors import UserError
from ugatit.visualize import colorize_heatmap, to_unit_range

CURVE_PANELS: dict[str, tuple[str, ...]] = {
    "generator total": ("train/g_total",),
    "discriminator total": ("train/d_total",),
    "cycle (L1)": ("train/g_cycle",),
    "CAM": ("train/g_cam",),
    "learning rate": ("lr/generator", "lr/discriminator"),
}


DIRECTION_LABELS = {"a2b": "A→B", "b2a": "B→A"}


# ------------------------------------------------------------------------------ drawing
def _image(tile: Tensor):
    """[3, H, W] in [0, 1] -> an H x W x 3 array for imshow."""
    return tile.detach().cpu().permute(1, 2, 0).numpy()


def _grid(fig: Figure, rows: int, columns: int):
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    return axes


def plot_translations(module: nn.Module, images: Tensor, direction: str) -> Figure:
    """real | generator attention heatmap | translation, one row per image.

    The heatmap column is left out for generators without CAM attention.
    """
    output = translate(module, images, direction)
    size = tuple(images.shape[-2:])
    source, target = DIRECTION_LABELS[direction].split("→")
    columns = [(f"real {source}", to_unit_range(images))]
    if output.heatmap is not None:
        columns.append(("generator attention", colorize_heatmap(output.heatmap, size)))
    columns.append((f"translated to {target}", to_unit_range(output.image)))
    fig = Figure(figsize=(2.0 * len(columns), 2.0 * len(images)), layout="constrained")
    axes = _grid(fig, len(images), len(columns))
    for c, (title, tiles) in enumerate(columns):
        axes[0, c].set_title(title, fontsize=9)
        for r in range(len(images)):
            axes[r, c].imshow(_image(tiles[r]))
    fig.suptitle(f"{DIRECTION_LABELS[direction]} ({direction})", fontsize=10)
    return fig


def plot_discriminator_attention(
    module: nn.Module, images: Mapping[str, Tensor], domain: str
) -> Figure:
    """image | one heatmap per discriminator head (global, local), for each labelled batch.

    ``images`` maps a label (e.g. "real B", "fake B") to images of domain ``domain``.
    """
    rows: list[tuple[str, Tensor, list[Tensor | None]]] = []
    for label, batch in images.items():
        heatmaps = discriminator_heatmaps(module, batch, domain)
        for i in range(len(batch)):
            rows.append(
                (label, batch[i : i + 1], [h if h is None else h[i : i + 1] for h in heatmaps])
            )
    n_heads = len(rows[0][2]) if rows else 0
    names = ["global D", "local D"] if n_heads == 2 else [f"D head {i}" for i in range(n_heads)]
    fig = Figure(figsize=(2.0 * (1 + n_heads), 2.0 * len(rows)), layout="constrained")
    axes = _grid(fig, len(rows), 1 + n_heads)
    for r, (label, image, heatmaps) in enumerate(rows):
        axes[r, 0].imshow(_image(to_unit_range(image)[0]))
        axes[r, 0].set_title(label, fontsize=9)
        for h, heatmap in enumerate(heatmaps):
            ax = axes[r, 1 + h]
            if heatmap is None:
                ax.text(0.5, 0.5, "no attention", ha="center", va="center", fontsize=8)
            else:
                ax.imshow(_image(colorize_heatmap(heatmap, tuple(image.shape[-2:]))[0]))
            if r == 0:
                ax.set_title(names[h], fontsize=9)
    fig.suptitle(f"discriminator of domain {domain.upper()}", fontsize=10)
    return fig


def plot_rho(rows: Sequence[RhoRow]) -> Figure:
    """Mean rho per layer (bars, min-max as error bars), both generators side by side."""
    layers = list(dict.fromkeys(r.layer for r in rows))
    generators = list(dict.fromkeys(r.generator for r in rows))
    width = 0.8 / max(1, len(generators))
    fig = Figure(figsize=(max(5.0, 0.6 * len(layers) + 2), 3.4), layout="constrained")
    ax = fig.subplots()
    for g, name in enumerate(generators):
        mine = {r.layer: r for r in rows if r.generator == name}
        xs = [i + (g - (len(generators) - 1) / 2) * width for i, layer in enumerate(layers)]
        means = [mine[layer].mean if layer in mine else math.nan for layer in layers]
        # float rounding can put the mean of equal values a hair outside [min, max]
        low = [max(0.0, mine[x].mean - mine[x].min) if x in mine else 0.0 for x in layers]
        high = [max(0.0, mine[x].max - mine[x].mean) if x in mine else 0.0 for x in layers]
        ax.bar(xs, means, width, yerr=[low, high], capsize=2, label=name)
    ax.set_xticks(range(len(layers)), layers, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("rho (1 = instance norm, 0 = layer norm)", fontsize=8)
    ax.axhline(1.0, color="grey", linewidth=0.5)
    ax.legend(fontsize=8)
    return fig


def plot_learning_curves(
    curves: Mapping[str, Curve], panels: Mapping[str, Sequence[str]] = CURVE_PANELS
) -> Figure:
    """One panel per entry of ``panels`` that has data (e.g. no CAM panel for CycleGAN)."""
    present = {
        title: [key for key in keys if key in curves and curves[key].values]
        for title, keys in panels.items()
    }
    present = {title: keys for title, keys in present.items() if keys}
    if not present:
        raise UserError(
            f"None of {sorted(k for keys in panels.values() for k in keys)} was logged; the "
            "metrics file holds " + ", ".join(sorted(curves)) + "."
        )
    columns = min(3, len(present))
    rows = math.ceil(len(present) / columns)
    fig = Figure(figsize=(3.6 * columns, 2.6 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat[len(present) :]:
        ax.set_axis_off()
    for ax, (title, keys) in zip(axes.flat, present.items(), strict=False):
        for key in keys:
            ax.plot(curves[key].iterations, curves[key].values, label=key, linewidth=1.2)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("iteration", fontsize=8)
        ax.tick_params(labelsize=7)
        if len(keys) > 1:
            ax.legend(fontsize=7)
    return fig
