"""CUT / FastCUT networks (Park et al., ECCV 2020): the anti-aliased ResNet generator and the
patch sampler of the PatchNCE loss.

The generator keeps the official ``nn.Sequential`` named ``model`` with the same indices and the
fixed blur filters as ``model.N.filt`` buffers, so official ``latest_net_G.pth`` files load without
renaming, and the NCE layers (``0,4,8,12,16`` by default) name the same features.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ugatit.nets.base import Generator
from ugatit.nets.keywords import BLOCKS, CHANNELS, FLAG, WIDTH
from ugatit.nets.outputs import GeneratorOutput
from ugatit.registry import register_network

N_DOWNSAMPLING = 2


def _binomial_filter(taps: Sequence[float]) -> Tensor:
    row = torch.tensor(taps, dtype=torch.float32)
    kernel = row[:, None] * row[None, :]
    return kernel / kernel.sum()


class BlurDownsample(nn.Module):
    """Anti-aliased stride-2 subsampling: reflect pad 1, the fixed [1,2,1] x [1,2,1] / 16 filter
    per channel, stride 2 (Zhang, ICML 2019)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        kernel = _binomial_filter([1.0, 2.0, 1.0])
        self.register_buffer("filt", kernel[None, None].repeat(channels, 1, 1, 1))
        self.pad = nn.ReflectionPad2d(1)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(self.pad(x), self.filt, stride=2, groups=x.shape[1])


class BlurUpsample(nn.Module):
    """Anti-aliased 2x upsampling: replicate pad 1, a depthwise transposed conv with the fixed
    [1,3,3,1] x [1,3,3,1] / 64 * 4 filter, stride 2, padding 2, then the first and last row and
    column cropped: exactly twice the input size."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        kernel = _binomial_filter([1.0, 3.0, 3.0, 1.0]) * 4
        self.register_buffer("filt", kernel[None, None].repeat(channels, 1, 1, 1))
        self.pad = nn.ReplicationPad2d(1)

    def forward(self, x: Tensor) -> Tensor:
        out = F.conv_transpose2d(self.pad(x), self.filt, stride=2, padding=2, groups=x.shape[1])
        return out[:, :, 1:-1, 1:-1]


class CutResnetBlock(nn.Module):
    """Two reflect-padded 3x3 convs with instance norm and a skip connection (no dropout)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


def init_xavier_(module: nn.Module, gain: float = 0.02) -> nn.Module:
    """CUT's init: conv and linear weights xavier-normal with gain 0.02, biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_normal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


@register_network(
    in_channels=CHANNELS,
    out_channels=CHANNELS,
    ngf=WIDTH,
    n_blocks=BLOCKS,
    antialias=FLAG,
    antialias_up=FLAG,
)
class CutGenerator(Generator):
    """c7s1-ngf, two anti-aliased downsamplings, ``n_blocks`` residual blocks, two anti-aliased
    upsamplings, c7s1-3, tanh. ``antialias=False`` gives CycleGAN's strided convolutions."""

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        antialias: bool = True,
        antialias_up: bool = True,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7),
            nn.InstanceNorm2d(ngf),
            nn.ReLU(True),
        ]
        for i in range(N_DOWNSAMPLING):
            c = ngf * 2**i
            if antialias:
                layers += [
                    nn.Conv2d(c, c * 2, 3, stride=1, padding=1),
                    nn.InstanceNorm2d(c * 2),
                    nn.ReLU(True),
                    BlurDownsample(c * 2),
                ]
            else:
                layers += [
                    nn.Conv2d(c, c * 2, 3, stride=2, padding=1),
                    nn.InstanceNorm2d(c * 2),
                    nn.ReLU(True),
                ]
        layers += [CutResnetBlock(ngf * 2**N_DOWNSAMPLING) for _ in range(n_blocks)]
        for i in range(N_DOWNSAMPLING):
            c = ngf * 2 ** (N_DOWNSAMPLING - i)
            if antialias_up:
                layers += [
                    BlurUpsample(c),
                    nn.Conv2d(c, c // 2, 3, stride=1, padding=1),
                    nn.InstanceNorm2d(c // 2),
                    nn.ReLU(True),
                ]
            else:
                layers += [
                    nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                    nn.InstanceNorm2d(c // 2),
                    nn.ReLU(True),
                ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_xavier_(self)

    def forward(self, x: Tensor) -> GeneratorOutput:
        return GeneratorOutput(self.model(x))

    def _check_layers(self, layers: Sequence[int]) -> list[int]:
        layers = [int(i) for i in layers]
        bad = [i for i in layers if not 0 <= i < len(self.model)]
        if bad or not layers or layers != sorted(set(layers)):
            raise ValueError(
                f"model.nce.layers={layers} must be increasing indices of the generator's "
                f"{len(self.model)} layers (0 to {len(self.model) - 1}); the official default "
                "is [0, 4, 8, 12, 16] for 9 residual blocks."
            )
        return layers

    def encode(self, x: Tensor, layers: Sequence[int]) -> list[Tensor]:
        """The outputs of ``model[i]`` for each i in ``layers``; stops after the last one."""
        layers = self._check_layers(layers)
        wanted, features = set(layers), []
        for index, layer in enumerate(self.model):
            x = layer(x)
            if index in wanted:
                features.append(x)
            if index == layers[-1]:
                break
        return features

    def feature_channels(self, layers: Sequence[int]) -> list[int]:
        with torch.no_grad():
            weight = self.model[1].weight
            probe = weight.new_zeros(1, weight.shape[1], 16, 16)
            return [f.shape[1] for f in self.encode(probe, layers)]


class PatchSampler(nn.Module):
    """CUT's ``mlp_sample`` F: per NCE layer a 2-layer MLP on features at sampled positions,
    L2-normalised. Built from the feature channels up front (the official code builds it on the
    first forward), so checkpoints, resume and DDP see it from the start."""

    def __init__(self, channels: Sequence[int], mlp_channels: int = 256) -> None:
        super().__init__()
        for index, c in enumerate(channels):
            mlp = nn.Sequential(
                nn.Linear(c, mlp_channels), nn.ReLU(), nn.Linear(mlp_channels, mlp_channels)
            )
            setattr(self, f"mlp_{index}", mlp)
        self.n_layers = len(channels)
        init_xavier_(self)

    def forward(self, features: Sequence[Tensor], positions: Sequence[Tensor]) -> list[Tensor]:
        """[B * P, mlp_channels] per layer: the features at ``positions`` (flat indices into each
        map, the same for every image of the batch), through the layer's MLP, L2-normalised."""
        out = []
        for index, (feature, position) in enumerate(zip(features, positions, strict=True)):
            flat = feature.permute(0, 2, 3, 1).flatten(1, 2)  # [B, H*W, C]
            sample = flat[:, position.to(feature.device), :].flatten(0, 1)
            sample = getattr(self, f"mlp_{index}")(sample)
            # the official pow(2).sum().pow(0.5) has an infinite gradient where an MLP output is
            # exactly 0 (every hidden ReLU off), which turns the step into NaN; vector_norm's
            # gradient there is 0, and its value is the same
            norm = torch.linalg.vector_norm(sample, dim=1, keepdim=True)
            out.append(sample / (norm + 1e-7))
        return out
