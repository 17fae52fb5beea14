"""The typeface-translation metric of the built-in glyphs data: is the translation in the target
typeface (a style classifier's verdict) while showing the same letter (a letter classifier's) at
the same place?

See :mod:`ugatit.evaluation.glyph_metric.scoring` for the numbers and
:mod:`ugatit.evaluation.glyph_metric.classifier` for the judges.
"""
