"""The history buffer of generated images that CycleGAN's discriminators are trained on."""

from __future__ import annotations

import torch
from torch import Tensor


class ImagePool:
    """Keeps up to ``size`` past fakes; each query returns, per image, either the new fake or
    (with probability 1/2 once full) a stored one that the new fake then replaces.

    ``size=0`` disables the pool. Its contents and random generator are part of the checkpoint
    (``state_dict``) so that a resumed run draws the same images.
    """

    def __init__(self, size: int = 50, seed: int = 0) -> None:
        self.size = size
        self.images: list[Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, images: Tensor) -> Tensor:
        if self.size <= 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=self.generator).item() < 0.5:
                index = int(torch.randint(len(self.images), (), generator=self.generator))
                out.append(self.images[index].to(image.device, copy=True))
                self.images[index] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        return {
            "images": [image.cpu() for image in self.images],
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict, device: torch.device | None = None) -> None:
        self.images = [image.to(device) if device else image for image in state["images"]]
        self.generator.set_state(state["generator"])
