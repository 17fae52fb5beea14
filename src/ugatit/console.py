"""A console that shows what matters: the known-harmless notices of the libraries under a normal
run are filtered by their exact text (nothing else is hidden)."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

# Lightning's pytree helper on recent torch: a deprecation inside Lightning, nothing to act on
_WARNINGS = (r"`isinstance\(treespec, LeafSpec\)` is deprecated",)
# Lightning's advertisement of its cloud logger, printed when a run starts
_ADVERTISEMENTS = ("💡 Tip:",)
_LIGHTNING_LOGGERS = (
    "pytorch_lightning.utilities.rank_zero",
    "lightning.pytorch.utilities.rank_zero",
    "lightning.pytorch.trainer.connectors.logger_connector.logger_connector",
    "pytorch_lightning.trainer.connectors.logger_connector.logger_connector",
)


class _DropAdvertisements(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).lstrip().startswith(_ADVERTISEMENTS)


def quiet_known_noise() -> None:
    """Filter the notices above (idempotent)."""
    for pattern in _WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in _LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropAdvertisements) for f in logger.filters):
            logger.addFilter(_DropAdvertisements())


# The ONNX exporter's graph passes report every rewrite at INFO level (hundreds of lines)
_EXPORTER_LOGGERS = ("onnx_ir", "onnxscript", "torch.onnx")


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """Raise the ONNX exporter's loggers to WARNING for the export, restoring them afterwards."""
    loggers = [logging.getLogger(name) for name in _EXPORTER_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
