"""How well a small discriminator tells domain A from domain B through each view of its input.

Trains the quick start's discriminator (U-GAT-IT's, ndf 16, 6- and 4-layer) for ``--steps``
steps as a plain A-vs-B judge (LSGAN targets 1 for A, 0 for B, one image of each per step) on a
data folder's train images, seeing them through each ``model.discriminator_input`` view, and
prints its accuracy on the test images (threshold halfway between the two domains' mean scores).
A view in which the judge stays near 0.5 leaves a GAN's discriminator nothing to teach the
generator about the domains' geometry in a short run (docs/quality.md, section 6):

    python scripts/discriminator_probe.py data/shapes/round_rect-random
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ugatit.nets.ugatit import UgatitDiscriminatorSet
from ugatit.training.discriminator_views import VIEWS, border_mean, discriminator_view
from ugatit.training.losses import standardized


def border_distance(images: torch.Tensor) -> torch.Tensor:
    """A view compared here, not offered: the distance from the border's mean colour."""
    distance = (images - border_mean(images)).norm(dim=1, keepdim=True)
    return standardized(distance).expand_as(images)


# the views of model.discriminator_input, and two compared with them here
PROBED = {
    **{name: discriminator_view(name) for name in VIEWS},
    "standardized": standardized,
    "border_distance": border_distance,
}


def load_folder(folder: Path) -> torch.Tensor:
    paths = sorted(folder.glob("*.png"))
    if not paths:
        raise SystemExit(f"{folder} holds no .png images; pass a folder with trainA/testA/...")
    pixels = [np.array(Image.open(p).convert("RGB")) for p in paths]
    return torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).float() / 127.5 - 1


def probe(root: Path, view_name: str, steps: int, seed: int) -> float:
    view = PROBED[view_name]
    train_a, train_b = load_folder(root / "trainA"), load_folder(root / "trainB")
    test_a, test_b = load_folder(root / "testA"), load_folder(root / "testB")
    torch.manual_seed(seed)
    judge = UgatitDiscriminatorSet(ndf=16, global_layers=6, local_layers=4)
    optimizer = torch.optim.Adam(judge.parameters(), 2e-4, betas=(0.5, 0.999))
    draw = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        i = torch.randint(0, len(train_a), (1,), generator=draw)
        j = torch.randint(0, len(train_b), (1,), generator=draw)
        heads = judge(view(torch.cat([train_a[i], train_b[j]])))
        loss = sum(
            ((h.patch_logit[0] - 1) ** 2).mean() + (h.patch_logit[1] ** 2).mean() for h in heads
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    judge.eval()
    with torch.no_grad():
        score_a = torch.stack([_score(judge, view(x[None])) for x in test_a])
        score_b = torch.stack([_score(judge, view(x[None])) for x in test_b])
    threshold = (score_a.mean() + score_b.mean()) / 2
    return float(((score_a > threshold).float().mean() + (score_b <= threshold).float().mean()) / 2)


def _score(judge: torch.nn.Module, image: torch.Tensor) -> torch.Tensor:
    return sum(head.patch_logit.mean() for head in judge(image))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="data folder with trainA, trainB, testA, testB")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--views", nargs="+", default=list(PROBED), choices=list(PROBED))
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.views:
        accuracy = probe(args.root, name, args.steps, args.seed)
        print(f"{args.root} {name}: test accuracy {accuracy:.2f} after {args.steps} steps")


if __name__ == "__main__":
    main()
