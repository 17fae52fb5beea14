"""Generators, discriminators, normalisation layers and weight init.

Every generator returns a :class:`GeneratorOutput`; every per-domain discriminator set returns a
list of :class:`DiscriminatorHead`. The training loop relies on nothing else.
"""

from ugatit.nets.outputs import DiscriminatorHead, GeneratorOutput

__all__ = ["DiscriminatorHead", "GeneratorOutput"]
