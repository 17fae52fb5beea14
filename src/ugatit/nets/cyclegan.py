"""CycleGAN's ResNet generator and 70x70 PatchGAN (Zhu et al. 2017), laid out like the official code.

Both keep the official ``nn.Sequential`` named ``model`` with the same indices, so the public
pretrained state dicts (``model.1.weight``, ...) load without renaming.
"""

from __future__ import annotations

from torch import Tensor, nn

from ugatit.nets.base import Generator
from ugatit.nets.cut import BlurDownsample, init_xavier_
from ugatit.nets.init import init_normal_
from ugatit.nets.keywords import BLOCKS, CHANNELS, FLAG, WIDTH
from ugatit.nets.outputs import DiscriminatorHead, GeneratorOutput
from ugatit.registry import register_network
from ugatit.rules import Number, OneOf

INITS = {"normal": init_normal_, "xavier": init_xavier_}


class ResnetBlock(nn.Module):
    """Two reflect-padded 3x3 convs with instance norm and a skip connection."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=True),
            nn.InstanceNorm2d(channels),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=True),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


@register_network(in_channels=CHANNELS, out_channels=CHANNELS, ngf=WIDTH, n_blocks=BLOCKS)
class ResnetGenerator(Generator):
    """c7s1-ngf, two stride-2 downsamplings, ``n_blocks`` residual blocks, two transposed convs, c7s1-3."""

    def __init__(
        self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, bias=True),
            nn.InstanceNorm2d(ngf),
            nn.ReLU(True),
        ]
        for mult in (1, 2):
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True),
                nn.InstanceNorm2d(ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [
                nn.ConvTranspose2d(
                    ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=True
                ),
                nn.InstanceNorm2d(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7, bias=True), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_normal_(self)

    def forward(self, x: Tensor) -> GeneratorOutput:
        return GeneratorOutput(self.model(x))


@register_network(
    in_channels=CHANNELS,
    ndf=WIDTH,
    n_layers=Number(integer=True, low=1, high=12),
    antialias=FLAG,
    init=OneOf(tuple(INITS)),
)
class PatchGANDiscriminator(nn.Module):
    """The 70x70 PatchGAN; as a per-domain discriminator set it returns a single head.

    ``antialias=True`` is CUT's variant: every stride-2 conv becomes a stride-1 conv followed by
    a blur-pool downsampling (the layer indices then differ from CycleGAN's); CUT also draws the
    initial weights with ``init="xavier"`` (gain 0.02) where CycleGAN uses N(0, 0.02).
    """

    def __init__(
        self,
        in_channels: int = 3,
        ndf: int = 64,
        n_layers: int = 3,
        antialias: bool = False,
        init: str = "normal",
    ) -> None:
        super().__init__()

        def down(c_in: int, c_out: int, norm: bool) -> list[nn.Module]:
            stride = 1 if antialias else 2
            block: list[nn.Module] = [nn.Conv2d(c_in, c_out, 4, stride=stride, padding=1)]
            block += [nn.InstanceNorm2d(c_out)] if norm else []
            block += [nn.LeakyReLU(0.2, True)]
            return block + ([BlurDownsample(c_out)] if antialias else [])

        layers: list[nn.Module] = down(in_channels, ndf, norm=False)
        self.n_layers = n_layers
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += down(ndf * prev, ndf * mult, norm=True)
        prev, mult = mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1),
            nn.InstanceNorm2d(ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1),
        ]
        self.model = nn.Sequential(*layers)
        self.min_size = 3 * 2**n_layers
        if init not in INITS:
            raise ValueError(f"model.discriminator.init={init!r}: use one of {sorted(INITS)}.")
        INITS[init](self)

    def forward(self, x: Tensor) -> list[DiscriminatorHead]:
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(
                f"The PatchGAN discriminator with n_layers={self.n_layers} needs images of "
                f"at least {self.min_size}x{self.min_size} px, got {x.shape[-2]}x{x.shape[-1]}. "
                "Use larger crops (data.crop_size) or fewer layers (model.discriminator.n_layers)."
            )
        return [DiscriminatorHead(self.model(x))]
