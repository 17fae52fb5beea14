"""The rules every network keyword meets, shared by the networks' registrations.

Upper bounds are far above any paper setting (ngf/ndf 64, 4-9 residual blocks, 7 discriminator
layers, 256 px): they keep a setting from a file from describing millions of modules before its
size is even counted (``ugatit.registry``).
"""

from __future__ import annotations

from ugatit.nets.sizes import MIN_SIZE, SIZE_MULTIPLE
from ugatit.rules import FLAG, Number

CHANNELS = Number(integer=True, low=1, high=4, why="image channels")
WIDTH = Number(integer=True, low=1, high=1024, why="base channel count")
BLOCKS = Number(integer=True, low=1, high=64)
LAYERS = Number(integer=True, low=3, high=12)
UNIT = Number(low=0, high=1)
IMAGE_SIDE = Number(
    integer=True,
    low=MIN_SIZE,
    high=4096,
    multiple_of=SIZE_MULTIPLE,
    why=f"the generators downsample twice by 2, so the side must divide by {SIZE_MULTIPLE}",
)

__all__ = ["BLOCKS", "CHANNELS", "FLAG", "IMAGE_SIDE", "LAYERS", "UNIT", "WIDTH"]
