"""U-GAT-IT generator and discriminators: counts, shapes, ablations, size errors, CAM weighting."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ugatit.nets.norms import AdaIN, AdaLIN
from ugatit.nets.outputs import DiscriminatorHead, GeneratorOutput
from ugatit.nets.ugatit import (
    UgatitDiscriminator,
    UgatitDiscriminatorSet,
    UgatitGenerator,
    discriminator_min_size,
)


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _image(size: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_parameter_counts_match_the_official_port() -> None:
    with torch.device("meta"):
        assert _count(UgatitGenerator()) == 278_959_808
        assert _count(UgatitGenerator(light=True)) == 10_589_888
        assert _count(UgatitDiscriminator(n_layers=7)) == 53_130_176
        assert _count(UgatitDiscriminator(n_layers=5)) == 3_290_560
        d_set = UgatitDiscriminatorSet()
    assert _count(d_set) == 53_130_176 + 3_290_560
    assert [d.n_layers for d in d_set.discriminators] == [7, 5]


def test_port_key_names() -> None:
    with torch.device("meta"):
        keys = set(UgatitGenerator(n_res=4).state_dict())
        d_keys = set(UgatitDiscriminator(n_layers=5).state_dict())
    for key in [
        "DownBlock.1.weight",
        "DownBlock.9.weight",
        "DownBlock.15.conv_block.5.weight",
        "gap_fc.weight",
        "gmp_fc.weight",
        "conv1x1.bias",
        "FC.0.weight",
        "FC.2.weight",
        "gamma.weight",
        "beta.weight",
        "UpBlock1_4.conv2.weight",
        "UpBlock1_1.norm1.rho",
        "UpBlock2.2.weight",
        "UpBlock2.3.rho",
        "UpBlock2.8.gamma",
        "UpBlock2.11.weight",
    ]:
        assert key in keys
    for key in [
        "model.1.weight_orig",
        "model.1.bias",
        "model.1.weight_u",
        "model.10.weight_v",
        "gap_fc.weight_orig",
        "gmp_fc.weight_u",
        "conv1x1.weight",
        "conv.weight_orig",
    ]:
        assert key in d_keys
    assert "conv.bias" not in d_keys and "UpBlock2.11.bias" not in keys


@pytest.mark.parametrize("size", [64, 128, 256])
@pytest.mark.parametrize("light", [True, False])
def test_generator_shapes(size: int, light: bool) -> None:
    gen = UgatitGenerator(ngf=8, n_res=2, img_size=size, light=light)
    with torch.no_grad():
        out = gen(_image(size, batch=1))
    assert isinstance(out, GeneratorOutput)
    assert out.image.shape == (1, 3, size, size)
    assert out.image.abs().max() <= 1.0
    assert out.cam_logit.shape == (1, 2)
    assert out.heatmap.shape == (1, 1, size // 4, size // 4)


def test_heatmap_is_channel_sum_of_nonnegative_attended_map() -> None:
    gen = UgatitGenerator(ngf=8, n_res=1, light=True)
    out = gen(_image(32))
    assert out.heatmap.shape == (2, 1, 8, 8)
    assert torch.all(out.heatmap >= 0)  # sum of a ReLU output
    assert out.heatmap.std() > 0


def test_light_generator_accepts_other_sizes_and_init_is_normal() -> None:
    gen = UgatitGenerator(ngf=8, n_res=1, light=True, img_size=256)
    assert gen(_image(48, batch=1)).image.shape == (1, 3, 48, 48)
    std = gen.DownBlock[5].weight.std().item()
    assert 0.015 < std < 0.025 and torch.all(gen.conv1x1.bias == 0)


def test_after_optimizer_step_clips_rho() -> None:
    gen = UgatitGenerator(ngf=8, n_res=2, light=True)
    assert torch.all(gen.UpBlock1_1.norm1.rho == 0.9)
    with torch.no_grad():
        gen.UpBlock1_2.norm2.rho.fill_(1.3)
        gen.UpBlock2[3].rho.fill_(-0.4)
        gen.UpBlock2[3].gamma.fill_(2.5)
    gen.after_optimizer_step()
    assert torch.all(gen.UpBlock1_2.norm2.rho == 1.0)
    assert torch.all(gen.UpBlock2[3].rho == 0.0)
    assert torch.all(gen.UpBlock2[3].gamma == 2.5)


def test_rho_options_reach_the_norms() -> None:
    gen = UgatitGenerator(
        ngf=8, n_res=1, light=True, rho_init=1.0, rho_offset=0.1, unbiased_variance=True
    )
    norm = gen.UpBlock1_1.norm1
    assert torch.all(norm.rho == 1.0) and norm.rho_offset == 0.1 and norm.unbiased_variance
    assert torch.all(gen.UpBlock2[8].rho == 0.0) and gen.UpBlock2[8].unbiased_variance


@pytest.mark.parametrize("norm", ["adalin", "adain", "in", "ln", "gn"])
def test_every_norm_kind_runs_and_has_no_unused_parameters(norm: str) -> None:
    gen = UgatitGenerator(ngf=8, n_res=2, img_size=32, norm=norm)
    gen(_image(32)).image.square().mean().backward()
    unused = [n for n, p in gen.named_parameters() if p.grad is None]
    assert unused == []
    names = {n.split(".")[0] for n, _ in gen.named_parameters()}
    adaptive = norm in ("adalin", "adain")
    assert ({"FC", "gamma", "beta"} <= names) == adaptive
    assert names.isdisjoint({"FC", "gamma", "beta"}) == (not adaptive)
    kind = {"adalin": AdaLIN, "adain": AdaIN}.get(norm, nn.GroupNorm)
    assert isinstance(gen.UpBlock1_1.norm1, kind)


def test_plain_norm_generator_is_smaller_by_the_mlp() -> None:
    ada = UgatitGenerator(ngf=8, n_res=2, light=True, norm="adain")
    plain = UgatitGenerator(ngf=8, n_res=2, light=True, norm="in")
    mlp = _count(ada.FC) + _count(ada.gamma) + _count(ada.beta)
    affine = sum(_count(getattr(plain, f"UpBlock1_{i}")) for i in (1, 2)) - sum(
        _count(getattr(ada, f"UpBlock1_{i}")) for i in (1, 2)
    )
    assert _count(ada) - _count(plain) == mlp - affine


def test_generator_without_cam() -> None:
    gen = UgatitGenerator(ngf=8, n_res=1, img_size=32, use_cam=False)
    out = gen(_image(32))
    assert out.cam_logit is None and out.heatmap is None
    assert out.image.shape == (2, 3, 32, 32)
    assert not hasattr(gen, "gap_fc") and not hasattr(gen, "conv1x1")
    assert gen.FC[0].in_features == 8 * 8 * 32


def test_full_mode_size_error_names_sizes_and_fix() -> None:
    gen = UgatitGenerator(ngf=8, n_res=1, img_size=64)
    with pytest.raises(ValueError) as err:
        gen(_image(32))
    msg = str(err.value)
    assert "64x64" in msg and "32x32" in msg and "model.generator.light=true" in msg


def test_bad_generator_inputs_get_clear_errors() -> None:
    gen = UgatitGenerator(ngf=8, n_res=1, light=True)
    with pytest.raises(ValueError, match="multiples of 4"):
        gen(_image(30))
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        gen(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="model.generator.img_size=30"):
        UgatitGenerator(ngf=8, img_size=30)
    with pytest.raises(ValueError, match="model.generator.norm"):
        UgatitGenerator(ngf=8, norm="batch")


def test_discriminator_shapes_and_set() -> None:
    d_set = UgatitDiscriminatorSet(ndf=4, global_layers=5, local_layers=3)
    heads = d_set(_image(64))
    assert len(heads) == 2 and all(isinstance(h, DiscriminatorHead) for h in heads)
    # 64 -> 8 after three stride-2 convs -> 7 -> 6; 64 -> 32 -> 31 -> 30
    assert heads[0].patch_logit.shape == (2, 1, 6, 6)
    assert heads[1].patch_logit.shape == (2, 1, 30, 30)
    assert heads[0].cam_logit.shape == (2, 2) and heads[0].heatmap.shape == (2, 1, 7, 7)


def test_discriminator_minimum_size_boundary() -> None:
    assert discriminator_min_size(7) == 96 and discriminator_min_size(5) == 24
    disc = UgatitDiscriminator(ndf=2, n_layers=7)
    assert disc(_image(96, batch=1)).patch_logit.shape == (1, 1, 1, 1)
    with pytest.raises(ValueError) as err:
        disc(_image(95, batch=1))
    assert "96x96" in str(err.value) and "model.discriminator.global_layers" in str(err.value)


def test_discriminator_set_names_the_right_key() -> None:
    d_set = UgatitDiscriminatorSet(ndf=2, global_layers=3, local_layers=5)
    with pytest.raises(ValueError, match="model.discriminator.local_layers"):
        d_set(_image(16))
    with pytest.raises(ValueError, match="model.discriminator.global_layers"):
        UgatitDiscriminatorSet(ndf=2)(_image(64))


def test_discriminator_without_cam() -> None:
    disc = UgatitDiscriminator(ndf=4, n_layers=4, use_cam=False)
    head = disc(_image(32))
    assert head.cam_logit is None and head.heatmap is None
    assert head.patch_logit.shape == (2, 1, 6, 6)  # 32 -> 8 -> 7 -> 6
    assert not any(
        n.startswith(("gap_fc", "gmp_fc", "conv1x1")) for n, _ in disc.named_parameters()
    )


def _direct_head(disc: UgatitDiscriminator, x: torch.Tensor, raw: bool) -> DiscriminatorHead:
    """CAM written out: weight = W / ||W|| (the spectral norm of a 1-row matrix) or raw W."""
    feats = disc.model(x)
    unit_gap = disc.gap_fc.weight_orig / disc.gap_fc.weight_orig.norm()
    unit_gmp = disc.gmp_fc.weight_orig / disc.gmp_fc.weight_orig.norm()
    gap_logit = feats.mean(dim=(2, 3)) @ unit_gap.T  # logits always use the normalised weight
    gmp_logit = feats.amax(dim=(2, 3)) @ unit_gmp.T
    w_gap, w_gmp = (
        (disc.gap_fc.weight_orig, disc.gmp_fc.weight_orig) if raw else (unit_gap, unit_gmp)
    )
    fused = torch.cat([feats * w_gap[0, :, None, None], feats * w_gmp[0, :, None, None]], 1)
    fused = F.leaky_relu(disc.conv1x1(fused), 0.2)
    return DiscriminatorHead(
        disc.conv(F.pad(fused, (1, 1, 1, 1), mode="reflect")),
        torch.cat([gap_logit, gmp_logit], 1),
        fused.sum(1, keepdim=True),
    )


@pytest.mark.parametrize("cam_weight", ["normalized", "raw"])
def test_discriminator_cam_weight_matches_direct_computation(cam_weight: str) -> None:
    torch.manual_seed(0)
    disc = UgatitDiscriminator(ndf=4, n_layers=4, cam_weight=cam_weight)
    x = _image(32)
    disc(x)  # one training-mode power iteration; a 1-row matrix's norm is then exact
    disc.eval()
    with torch.no_grad():
        got, want = disc(x), _direct_head(disc, x, raw=cam_weight == "raw")
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-6)


def test_raw_and_normalized_cam_weight_differ() -> None:
    torch.manual_seed(0)
    norm_d = UgatitDiscriminator(ndf=4, n_layers=4, cam_weight="normalized")
    raw_d = UgatitDiscriminator(ndf=4, n_layers=4, cam_weight="raw")
    raw_d.load_state_dict(norm_d.state_dict())
    x = _image(32)
    a, b = norm_d(x), raw_d(x)
    torch.testing.assert_close(a.cam_logit, b.cam_logit)  # logits use the normalised weight
    assert not torch.allclose(a.heatmap, b.heatmap)
    with pytest.raises(ValueError, match="model.discriminator.cam_weight"):
        UgatitDiscriminator(cam_weight="weird")


@pytest.mark.parametrize("light", [True, False])
def test_activation_checkpointing_recomputes_the_blocks_and_changes_nothing(light, monkeypatch):
    """checkpoint_blocks=true: the residual blocks run again in the backward pass (their
    activations are not kept), and the outputs and gradients are the same."""
    from ugatit.nets.ugatit import ResnetAdaILNBlock, ResnetBlock, UgatitGenerator

    torch.manual_seed(0)
    plain = UgatitGenerator(ngf=8, n_res=2, img_size=32, light=light)
    saving = UgatitGenerator(ngf=8, n_res=2, img_size=32, light=light, checkpoint_blocks=True)
    saving.load_state_dict(plain.state_dict())
    runs = []  # every block forward, recomputations included (hooks do not see those)
    for block in (ResnetBlock, ResnetAdaILNBlock):
        forward = block.forward
        monkeypatch.setattr(
            block, "forward", lambda self, *a, forward=forward: runs.append(1) or forward(self, *a)
        )
    x = torch.randn(2, 3, 32, 32)
    results, counts = [], []
    for network in (plain, saving):
        runs.clear()
        output = network(x)
        (output.image.square().mean() + output.cam_logit.sum()).backward()
        results.append((output.image.detach(), [p.grad.clone() for p in network.parameters()]))
        counts.append(len(runs))
    assert counts == [4, 8]  # 2 encoder + 2 decoder blocks; each once more when recomputed
    torch.testing.assert_close(results[0][0], results[1][0], rtol=0, atol=0)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    # evaluation and no-grad runs keep the plain path
    runs.clear()
    with torch.no_grad():
        saving(x)
    assert len(runs) == 4


def test_colour_relative_draws_on_the_inputs_own_colours() -> None:
    """With ``colour_relative`` the output is tanh(mean + spread * y) of the input's per-channel
    pre-tanh statistics: a generator whose drawing y is blank gives back a flat input's colour,
    and without the option the same generator gives a grey (tanh(0) = 0) whatever the input."""
    torch.manual_seed(0)
    colour = torch.tensor([0.6, -0.4, 0.1]).view(1, 3, 1, 1)
    flat = colour.expand(2, 3, 32, 32).clone()
    flat[1] = -flat[1]
    for relative in (True, False):
        g = UgatitGenerator(ngf=8, n_res=1, img_size=32, light=True, colour_relative=relative)
        last_conv = [m for m in g.UpBlock2 if isinstance(m, nn.Conv2d)][-1]
        nn.init.zeros_(last_conv.weight)  # (the official code's convs have no bias)
        out = g(flat).image
        expected = flat if relative else torch.zeros_like(flat)
        assert torch.allclose(out, expected, atol=1e-3), relative
