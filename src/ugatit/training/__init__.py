"""Training: the base loop and method modules, losses, the image pool, augmentation, callbacks, the run pipeline."""
