"""U-GAT-IT and CycleGAN for unpaired image-to-image translation (Lightning + Hydra)."""

__version__ = "0.1.0"
