"""The shape-translation metric of the built-in shapes data: did the translation change the kind of
shape (a classifier's verdict) while keeping where the shape is and how big it is?

FID on 64-px synthetic shapes cannot tell a good run from a bad one; this metric can. See
:mod:`ugatit.evaluation.shape_metric.scoring` for the numbers and :mod:`ugatit.evaluation.shape_metric.classifier` for
the judge.
"""
