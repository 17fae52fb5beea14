"""Generators, discriminators, normalisation layers and weight init.

Every generator returns a :class:`GeneratorOutput`; every per-domain discriminator set returns a
list of :class:`DiscriminatorHead`. The training loop relies on nothing else. Importing the
package registers every network a config or checkpoint may name (``ugatit.registry``).
"""

from ugatit.nets import cut, cyclegan, ugatit  # noqa: F401  (registers the networks)
from ugatit.nets.outputs import DiscriminatorHead, GeneratorOutput

__all__ = ["DiscriminatorHead", "GeneratorOutput"]
