"""Helpers for the notebook (notebooks/explore.ipynb) and the README figures, tested here so the
notebook's cells stay a few lines each: ``runs`` finds or makes a trained run, ``inspection`` looks
inside a model, ``plots`` draws it. Everything public is re-exported: ``from ugatit import analysis
as nu`` then ``nu.plot_translations(...)``."""

from ugatit.analysis.inspection import (
    RhoRow,
    discriminator_heatmaps,
    format_rho_table,
    has_attention,
    rho_table,
    translate,
)
from ugatit.analysis.plots import (
    CURVE_PANELS,
    DIRECTION_LABELS,
    plot_discriminator_attention,
    plot_learning_curves,
    plot_rho,
    plot_translations,
)
from ugatit.analysis.runs import (
    DEFAULT_SHAPES_SIZE,
    NOTEBOOK_OVERRIDES,
    Curve,
    compose_quick_start,
    data_for_checkpoint,
    default_run_dir,
    find_project_root,
    latest_sample_grid,
    load_test_images,
    metrics_csv_of,
    read_metrics,
    run_data_settings,
    run_dir_of,
)

__all__ = [
    "Curve",
    "DEFAULT_SHAPES_SIZE",
    "NOTEBOOK_OVERRIDES",
    "compose_quick_start",
    "data_for_checkpoint",
    "default_run_dir",
    "find_project_root",
    "latest_sample_grid",
    "load_test_images",
    "metrics_csv_of",
    "read_metrics",
    "run_data_settings",
    "run_dir_of",
    "RhoRow",
    "discriminator_heatmaps",
    "format_rho_table",
    "has_attention",
    "rho_table",
    "translate",
    "CURVE_PANELS",
    "DIRECTION_LABELS",
    "plot_discriminator_attention",
    "plot_learning_curves",
    "plot_rho",
    "plot_translations",
]
