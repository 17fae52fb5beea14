"""The shape metric during training: :class:`ShapeMetricCallback` is the translation-metric
callback (:mod:`ugatit.evaluation.translation_metric_callback`), which judges the built-in shapes
with the shape metric and the built-in glyphs with the glyph metric; the name stays for the
shapes config (``callbacks.shape_metric``) and the end-of-training summary."""

from ugatit.evaluation.translation_metric_callback import TranslationMetricCallback

ShapeMetricCallback = TranslationMetricCallback

__all__ = ["ShapeMetricCallback"]
