"""Training: the base loop and method modules, losses, the image pool, augmentation, callbacks, the run pipeline.

Importing the package registers every training method a checkpoint may name (``ugatit.registry``).
"""

from ugatit.training import contrastive, cycle  # noqa: F401  (registers the methods)
