"""U-GAT-IT generator and discriminators (CAM attention + AdaLIN), as in the official PyTorch port.

Attribute names and ``nn.Sequential`` indices equal the PyTorch port's (UGATIT-pytorch
``networks.py``) wherever the architecture is the same, so an official state dict maps onto these
modules key for key; only the containers differ:

=====================================  =============================================
official checkpoint key                this project
=====================================  =============================================
genA2B.* / genB2A.*                    UgatitGenerator (A->B / B->A), same keys:
  DownBlock.{1,5,9}.weight               encoder convs (indices 0-11 pad/conv/IN/ReLU)
  DownBlock.{12..}.conv_block.{1,5}.*    encoder residual blocks
  gap_fc.weight, gmp_fc.weight           CAM classifiers (Linear, no bias)
  conv1x1.{weight,bias}                  CAM fusion
  FC.{0,2}.weight                        gamma/beta MLP (full: flat map, light: pooled)
  gamma.weight, beta.weight              style heads
  UpBlock1_{i}.conv{1,2}.weight          decoder residual blocks, i = 1..n_res
  UpBlock1_{i}.norm{1,2}.rho             AdaLIN rho
  UpBlock2.{2,7,11}.weight               up-sampling convs and output conv
  UpBlock2.{3,8}.{rho,gamma,beta}        LIN
disGA.* / disGB.*                      UgatitDiscriminatorSet.discriminators.0.* (global)
disLA.* / disLB.*                      UgatitDiscriminatorSet.discriminators.1.* (local)
  model.{1,4,...}.{weight_orig,bias,weight_u,weight_v}, gap_fc.*, gmp_fc.*, conv1x1.*, conv.*
=====================================  =============================================

Differences from the port: weights start from N(0, 0.02) (the paper) instead of PyTorch's default
init; AdaLIN/LIN use the biased variance unless ``unbiased_variance=True`` (the port's setting);
with ``use_cam=False`` the CAM modules are absent and with a non-adaptive ``norm`` the FC, gamma and
beta modules are absent, so those keys do not exist; ablation norms other than adalin have their
own parameter names (see :mod:`ugatit.nets.norms`). The port's D quirk of reweighting the CAM
features by the raw ``weight_orig`` is ``cam_weight="raw"``; the default is the TF behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ugatit.nets.base import Generator
from ugatit.nets.init import init_normal_
from ugatit.nets.keywords import BLOCKS, CHANNELS, FLAG, IMAGE_SIDE, LAYERS, UNIT, WIDTH
from ugatit.nets.norms import (
    NORM_KINDS,
    clip_rho_,
    is_adaptive,
    make_decoder_norm,
    make_upsample_norm,
)
from ugatit.nets.outputs import DiscriminatorHead, GeneratorOutput
from ugatit.nets.sizes import MIN_SIZE, SIZE_MULTIPLE
from ugatit.nets.spectral_groups import apply_scaled, call_grouped, group_scales
from ugatit.registry import register_network
from ugatit.rules import OneOf

CAM_WEIGHTS: tuple[str, ...] = ("normalized", "raw")
N_DOWNSAMPLING = 2


def require_images(x: Tensor, channels: int, network: str, key: str) -> tuple[int, int]:
    """(H, W) of an image batch [B, channels, H, W]; anything else is a message, not a matmul error."""
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(
            f"{network} expects images [B, {channels}, H, W] ({key}.in_channels={channels}), "
            f"got shape {tuple(x.shape)}."
        )
    return int(x.shape[-2]), int(x.shape[-1])


def _pad_conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    """Reflection padding then an unpadded bias-free conv, the generator's building pair."""
    pad = (kernel - 1) // 2
    return [nn.ReflectionPad2d(pad), nn.Conv2d(c_in, c_out, kernel, stride, 0, bias=False)]


def _cam(
    x: Tensor,
    gap_fc: nn.Module,
    gmp_fc: nn.Module,
    raw_weight: bool,
    sizes: Sequence[int] | None = None,
) -> tuple[Tensor, Tensor]:
    """Class activation: logits from avg/max pools, features reweighted by each classifier's weight.

    Returns the concatenated reweighted maps [B, 2C, H, W] and cam_logit [B, 2]. The weight is read
    after the call so that a spectral-normed classifier's hook has produced its normalised weight.
    ``sizes``: groups of samples that stand for separate calls (see :mod:`.spectral_groups`).
    """
    b = x.shape[0]
    gap_logit, gap_w = _cam_classifier(
        gap_fc, F.adaptive_avg_pool2d(x, 1).reshape(b, -1), raw_weight, sizes
    )
    gmp_logit, gmp_w = _cam_classifier(
        gmp_fc, F.adaptive_max_pool2d(x, 1).reshape(b, -1), raw_weight, sizes
    )
    return torch.cat([x * gap_w, x * gmp_w], dim=1), torch.cat([gap_logit, gmp_logit], dim=1)


def _cam_classifier(
    fc: nn.Module, pooled: Tensor, raw_weight: bool, sizes: Sequence[int] | None
) -> tuple[Tensor, Tensor]:
    """One CAM classifier's logit [B, 1] and its weight as a map [1 or B, C, 1, 1]."""
    scales = group_scales(fc, sizes)
    if scales is None:
        logit = fc(pooled)
        return logit, getattr(fc, "weight_orig" if raw_weight else "weight").reshape(1, -1, 1, 1)
    weight = fc.weight_orig.reshape(1, -1, 1, 1)
    logit = apply_scaled(fc, pooled, scales)
    return logit, weight if raw_weight else weight * scales.reshape(-1, 1, 1, 1)


class ResnetBlock(nn.Module):
    """Encoder residual block: (pad, conv3, IN, ReLU, pad, conv3, IN) plus the skip."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            *_pad_conv(dim, dim, 3),
            nn.InstanceNorm2d(dim),
            nn.ReLU(True),
            *_pad_conv(dim, dim, 3),
            nn.InstanceNorm2d(dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


class ResnetAdaILNBlock(nn.Module):
    """Decoder residual block whose two norms take the shared gamma and beta."""

    def __init__(self, dim: int, norm1: nn.Module, norm2: nn.Module) -> None:
        super().__init__()
        self.pad1, self.conv1 = _pad_conv(dim, dim, 3)
        self.norm1 = norm1
        self.relu1 = nn.ReLU(True)
        self.pad2, self.conv2 = _pad_conv(dim, dim, 3)
        self.norm2 = norm2

    def forward(self, x: Tensor, gamma: Tensor | None, beta: Tensor | None) -> Tensor:
        out = self.relu1(self.norm1(self.conv1(self.pad1(x)), gamma, beta))
        out = self.norm2(self.conv2(self.pad2(out)), gamma, beta)
        return out + x


@register_network(
    in_channels=CHANNELS,
    out_channels=CHANNELS,
    ngf=WIDTH,
    n_res=BLOCKS,
    img_size=IMAGE_SIDE,
    light=FLAG,
    norm=OneOf(NORM_KINDS),
    use_cam=FLAG,
    rho_init=UNIT,
    rho_offset=UNIT,
    unbiased_variance=FLAG,
    checkpoint_blocks=FLAG,
    colour_relative=FLAG,
)
class UgatitGenerator(Generator):
    """U-GAT-IT generator: encoder, CAM attention, gamma/beta MLP, AdaLIN decoder.

    Full mode (``light=False``) flattens the attended map into the MLP, which ties the network to
    ``img_size``; light mode pools it first and accepts any size divisible by 4.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_res: int = 4,
        img_size: int = 256,
        light: bool = False,
        norm: str = "adalin",
        use_cam: bool = True,
        rho_init: float = 0.9,
        rho_offset: float = 0.0,
        unbiased_variance: bool = False,
        checkpoint_blocks: bool = False,
        colour_relative: bool = False,
    ) -> None:
        super().__init__()
        adaptive = is_adaptive(norm)
        # the output's colours are given relative to the input's: tanh(mean + spread * y), with
        # the input's per-channel mean and spread before its tanh (not in the paper). The
        # encoder's instance norms remove the input's colours, so without it no term that asks
        # for them can be met; with it keeping them is what the network does unless it learns
        # otherwise
        self.colour_relative = bool(colour_relative)
        # recompute the residual blocks' activations in the backward pass instead of keeping
        # them: less memory for small cards, one more forward pass of those blocks in compute
        self.checkpoint_blocks = bool(checkpoint_blocks)
        if n_res < 1:
            raise ValueError(f"model.generator.n_res={n_res} must be at least 1.")
        if not light and (img_size % SIZE_MULTIPLE or img_size < MIN_SIZE):
            raise ValueError(
                f"model.generator.img_size={img_size} must be a multiple of {SIZE_MULTIPLE} and "
                f"at least {MIN_SIZE} "
                "for the full (non-light) U-GAT-IT generator."
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.n_res, self.img_size, self.light = n_res, img_size, light
        self.norm, self.use_cam, self.adaptive = norm, use_cam, adaptive

        down: list[nn.Module] = [
            *_pad_conv(in_channels, ngf, 7),
            nn.InstanceNorm2d(ngf),
            nn.ReLU(True),
        ]
        for i in range(N_DOWNSAMPLING):
            c = ngf * 2**i
            down += [*_pad_conv(c, 2 * c, 3, stride=2), nn.InstanceNorm2d(2 * c), nn.ReLU(True)]
        dim = ngf * 2**N_DOWNSAMPLING
        down += [ResnetBlock(dim) for _ in range(n_res)]
        self.DownBlock = nn.Sequential(*down)

        if use_cam:
            self.gap_fc = nn.Linear(dim, 1, bias=False)
            self.gmp_fc = nn.Linear(dim, 1, bias=False)
            self.conv1x1 = nn.Conv2d(2 * dim, dim, kernel_size=1, stride=1, bias=True)
            self.relu = nn.ReLU(True)

        if adaptive:
            mlp_in = dim if light else (img_size // 4) ** 2 * dim
            self.FC = nn.Sequential(
                nn.Linear(mlp_in, dim, bias=False),
                nn.ReLU(True),
                nn.Linear(dim, dim, bias=False),
                nn.ReLU(True),
            )
            self.gamma = nn.Linear(dim, dim, bias=False)
            self.beta = nn.Linear(dim, dim, bias=False)

        def decoder_norm() -> nn.Module:
            return make_decoder_norm(
                norm,
                dim,
                rho_init=rho_init,
                rho_offset=rho_offset,
                unbiased_variance=unbiased_variance,
            )

        for i in range(1, n_res + 1):
            setattr(self, f"UpBlock1_{i}", ResnetAdaILNBlock(dim, decoder_norm(), decoder_norm()))

        up: list[nn.Module] = []
        for i in range(N_DOWNSAMPLING):
            c = ngf * 2 ** (N_DOWNSAMPLING - i)
            up += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                *_pad_conv(c, c // 2, 3),
                make_upsample_norm(norm, c // 2, unbiased_variance=unbiased_variance),
                nn.ReLU(True),
            ]
        up += [*_pad_conv(ngf, out_channels, 7), nn.Tanh()]
        self.UpBlock2 = nn.Sequential(*up)
        init_normal_(self)

    def _check_input(self, x: Tensor) -> None:
        """Turn wrong input shapes into messages that name the fix, not matrix-shape errors."""
        h, w = require_images(x, self.in_channels, "UgatitGenerator", "model.generator")
        if not self.light and (h != self.img_size or w != self.img_size):
            raise ValueError(
                f"The full U-GAT-IT generator was built for {self.img_size}x{self.img_size} "
                f"inputs (model.generator.img_size={self.img_size}) but got {h}x{w}. Make the "
                "data's crop size match img_size, or set model.generator.light=true, which "
                "accepts any size."
            )
        if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE or min(h, w) < MIN_SIZE:
            raise ValueError(
                f"UgatitGenerator needs height and width that are multiples of {SIZE_MULTIPLE} "
                f"and at least {MIN_SIZE} "
                f"(two stride-2 downsamplings), got {h}x{w}; resize or crop the data accordingly."
            )

    def _checkpointing(self) -> bool:
        return self.checkpoint_blocks and self.training and torch.is_grad_enabled()

    def _encode(self, x: Tensor) -> Tensor:
        if not self._checkpointing():
            return self.DownBlock(x)
        for layer in self.DownBlock:
            if isinstance(layer, ResnetBlock):
                x = checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
        return x

    def _decode_block(self, i: int, x: Tensor, gamma: Tensor | None, beta: Tensor | None) -> Tensor:
        block = getattr(self, f"UpBlock1_{i}")
        if self._checkpointing():
            return checkpoint(block, x, gamma, beta, use_reentrant=False)
        return block(x, gamma, beta)

    def forward(self, x: Tensor) -> GeneratorOutput:
        self._check_input(x)
        image = x
        x = self._encode(x)
        cam_logit = heatmap = None
        if self.use_cam:
            weighted, cam_logit = _cam(x, self.gap_fc, self.gmp_fc, raw_weight=False)
            x = self.relu(self.conv1x1(weighted))
            heatmap = x.sum(dim=1, keepdim=True)
        gamma = beta = None
        if self.adaptive:
            pooled = F.adaptive_avg_pool2d(x, 1) if self.light else x
            style = self.FC(pooled.reshape(x.shape[0], -1))
            gamma, beta = self.gamma(style), self.beta(style)
        for i in range(1, self.n_res + 1):
            x = self._decode_block(i, x, gamma, beta)
        if not self.colour_relative:
            return GeneratorOutput(self.UpBlock2(x), cam_logit, heatmap)
        mean, spread = _pre_tanh_statistics(image)
        y = self.UpBlock2[:-1](x)  # all but the final tanh
        return GeneratorOutput(torch.tanh(mean + spread * y), cam_logit, heatmap)

    @property
    def has_attention(self) -> bool:
        return self.use_cam

    @property
    def fixed_size(self) -> int | None:
        """Full mode ties the MLP to ``img_size``; light mode takes any size."""
        return None if self.light else self.img_size

    def after_optimizer_step(self) -> None:
        """Clip every rho to [0, 1]; the training loop calls this after each generator step."""
        clip_rho_(self)

    def rho_group(self, module_name: str) -> str | None:
        """AdaLIN of the decoder's residual blocks, or LIN of the up-sampling blocks."""
        top = module_name.split(".", 1)[0]
        if top.startswith("UpBlock1_"):
            return "decoder_res"
        if top == "UpBlock2":
            return "upsample"
        return None


def _pre_tanh_statistics(x: Tensor, floor: float = 0.1) -> tuple[Tensor, Tensor]:
    """Per image and channel, [B, C, 1, 1]: mean and spread of atanh(x), the values a tanh output
    would have had; the spread has a floor so that a flat image still gives room to draw."""
    clamped = x.float().clamp(-0.999, 0.999)
    raw = 0.5 * torch.log((1 + clamped) / (1 - clamped))  # atanh, which ONNX export lacks
    mean = raw.mean(dim=(2, 3), keepdim=True)
    spread = (raw.var(dim=(2, 3), keepdim=True, unbiased=False) + floor**2).sqrt()
    return mean.to(x.dtype), spread.to(x.dtype)


def discriminator_min_size(n_layers: int) -> int:
    """Smallest input side a discriminator with ``n_layers`` accepts.

    Its n_layers - 2 stride-2 convs halve the side; the stride-1 conv then needs at least 3 px so
    that the last reflection padding sees a map of at least 2 px.
    """
    return 3 * 2 ** (n_layers - 2)


class UgatitDiscriminator(nn.Module):
    """Spectral-normed PatchGAN with a CAM block (global: n_layers=7, local: n_layers=5)."""

    def __init__(
        self,
        in_channels: int = 3,
        ndf: int = 64,
        n_layers: int = 5,
        use_cam: bool = True,
        cam_weight: str = "normalized",
        layers_key: str = "model.discriminator.global_layers",
    ) -> None:
        """``layers_key`` is the config key named when an input is too small for ``n_layers``."""
        super().__init__()
        if n_layers < 3:
            raise ValueError(f"{layers_key}={n_layers} must be at least 3.")
        if cam_weight not in CAM_WEIGHTS:
            raise ValueError(
                f"Unknown cam_weight {cam_weight!r} (model.discriminator.cam_weight); "
                f"choose one of: {', '.join(CAM_WEIGHTS)}."
            )
        self.in_channels, self.n_layers, self.layers_key = in_channels, n_layers, layers_key
        self.use_cam, self.cam_weight = use_cam, cam_weight
        self.min_size = discriminator_min_size(n_layers)
        sn = nn.utils.spectral_norm

        def block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
            conv = nn.Conv2d(c_in, c_out, 4, stride, 0, bias=True)
            return [nn.ReflectionPad2d(1), sn(conv), nn.LeakyReLU(0.2, True)]

        model = block(in_channels, ndf, 2)
        for i in range(1, n_layers - 2):
            c = ndf * 2 ** (i - 1)
            model += block(c, 2 * c, 2)
        c = ndf * 2 ** (n_layers - 3)
        model += block(c, 2 * c, 1)
        dim = 2 * c

        if use_cam:
            self.gap_fc = sn(nn.Linear(dim, 1, bias=False))
            self.gmp_fc = sn(nn.Linear(dim, 1, bias=False))
            self.conv1x1 = nn.Conv2d(2 * dim, dim, kernel_size=1, stride=1, bias=True)
            self.leaky_relu = nn.LeakyReLU(0.2, True)
        self.pad = nn.ReflectionPad2d(1)
        self.conv = sn(nn.Conv2d(dim, 1, 4, 1, 0, bias=False))
        self.model = nn.Sequential(*model)
        init_normal_(self)

    def _check_input(self, x: Tensor) -> None:
        h, w = require_images(x, self.in_channels, "UgatitDiscriminator", "model.discriminator")
        if min(h, w) < self.min_size:
            raise ValueError(
                f"A U-GAT-IT discriminator with {self.n_layers} layers needs inputs of at least "
                f"{self.min_size}x{self.min_size} px but got {h}x{w}; use larger images or lower "
                f"{self.layers_key} (each layer less halves the minimum)."
            )

    def forward(self, x: Tensor, sizes: Sequence[int] | None = None) -> DiscriminatorHead:
        """Verdicts on ``x``. ``sizes`` splits the batch into groups that the official code judges
        in separate calls (real, fake): each spectral-normed layer then runs one power iteration
        per group, as those calls would (:mod:`ugatit.nets.spectral_groups`)."""
        self._check_input(x)
        for layer in self.model:
            x = call_grouped(layer, x, sizes)
        cam_logit = heatmap = None
        if self.use_cam:
            raw = self.cam_weight == "raw"
            weighted, cam_logit = _cam(x, self.gap_fc, self.gmp_fc, raw, sizes)
            x = self.leaky_relu(self.conv1x1(weighted))
            heatmap = x.sum(dim=1, keepdim=True)
        return DiscriminatorHead(call_grouped(self.conv, self.pad(x), sizes), cam_logit, heatmap)


@register_network(
    in_channels=CHANNELS,
    ndf=WIDTH,
    global_layers=LAYERS,
    local_layers=LAYERS,
    use_cam=FLAG,
    cam_weight=OneOf(CAM_WEIGHTS),
)
class UgatitDiscriminatorSet(nn.Module):
    """One domain's discriminators: ``discriminators[0]`` global, ``discriminators[1]`` local."""

    # forward(x, sizes) judges groups of a batch as separate calls would (spectral norm)
    accepts_call_groups = True

    def __init__(
        self,
        in_channels: int = 3,
        ndf: int = 64,
        global_layers: int = 7,
        local_layers: int = 5,
        use_cam: bool = True,
        cam_weight: str = "normalized",
    ) -> None:
        super().__init__()
        key = "model.discriminator"
        self.discriminators = nn.ModuleList(
            [
                UgatitDiscriminator(
                    in_channels, ndf, global_layers, use_cam, cam_weight, f"{key}.global_layers"
                ),
                UgatitDiscriminator(
                    in_channels, ndf, local_layers, use_cam, cam_weight, f"{key}.local_layers"
                ),
            ]
        )

    def forward(self, x: Tensor, sizes: Sequence[int] | None = None) -> list[DiscriminatorHead]:
        return [d(x, sizes) for d in self.discriminators]
