"""CUT's networks: the official layer layout, parameter counts, blur resampling against the
official formulas, encoder features and the patch sampler."""

from __future__ import annotations

import pytest
import torch

from helpers.port_reference import cut_downsample, cut_generator, cut_upsample
from ugatit.nets.cut import BlurDownsample, BlurUpsample, CutGenerator, PatchSampler
from ugatit.nets.cyclegan import PatchGANDiscriminator

pytestmark = pytest.mark.usefixtures("one_thread")

NCE_LAYERS = [0, 4, 8, 12, 16]


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_paper_sizes_match_the_official_parameter_counts():
    # ResNet-9 at ngf 64 (the blur filters are buffers, not parameters) and the 70x70 PatchGAN
    assert count(CutGenerator()) == 11_378_179
    assert count(PatchGANDiscriminator(antialias=True, init="xavier")) == 2_764_737
    channels = CutGenerator().feature_channels(NCE_LAYERS)
    assert channels == [3, 128, 256, 256, 256]
    sampler = PatchSampler(channels, 256)
    assert count(sampler) == sum(c * 256 + 256 + 256 * 256 + 256 for c in channels)


@pytest.mark.parametrize("size", [16, 20, 33])
def test_blur_resampling_equals_the_official_formulas(size):
    x = torch.randn(2, 5, size, size)
    torch.testing.assert_close(BlurDownsample(5)(x), cut_downsample(x))
    up = BlurUpsample(5)(x)
    assert up.shape[-2:] == (2 * size, 2 * size)
    torch.testing.assert_close(up, cut_upsample(x))


def test_generator_equals_an_independent_reference_of_the_official_network():
    generator = CutGenerator(ngf=8, n_blocks=2)
    x = torch.rand(2, 3, 36, 44) * 2 - 1
    reference = cut_generator(generator.state_dict(), x)
    torch.testing.assert_close(generator(x).image, reference, atol=1e-5, rtol=1e-4)
    assert generator.fixed_size is None and not generator.has_attention


def test_encode_returns_the_layer_outputs_and_stops_after_the_last():
    generator = CutGenerator(ngf=8, n_blocks=9)
    x = torch.randn(1, 3, 32, 32)
    features = generator.encode(x, NCE_LAYERS)
    assert [f.shape[1] for f in features] == generator.feature_channels(NCE_LAYERS)
    assert [tuple(f.shape[-2:]) for f in features] == [(38, 38), (32, 32), (16, 16), (8, 8), (8, 8)]
    # layer 4 is the first downsampling conv, before its norm: compare with the sequence itself
    h = x
    for layer in generator.model[:5]:
        h = layer(h)
    torch.testing.assert_close(features[1], h)
    with pytest.raises(ValueError, match="increasing indices"):
        generator.encode(x, [8, 4])


def test_patch_sampler_samples_the_same_positions_and_normalises():
    sampler = PatchSampler([4, 6], mlp_channels=16)
    features = [torch.randn(2, 4, 5, 5), torch.randn(2, 6, 3, 3)]
    positions = [torch.tensor([0, 7, 24]), torch.tensor([1, 8])]
    out = sampler(features, positions)
    assert [tuple(o.shape) for o in out] == [(6, 16), (4, 16)]
    # L2-normalised with the official eps of 1e-7 (outputs of the 0.02-gain init are small)
    assert ((out[0].norm(dim=1) - 1).abs() < 2e-3).all()
    # row 1 of the first layer is image 0 at flat position 7 = (y 1, x 2)
    expected = sampler.mlp_0(features[0][0, :, 1, 2])
    torch.testing.assert_close(out[0][1], expected / (expected.norm() + 1e-7))


def test_a_zero_patch_feature_keeps_the_gradients_finite():
    """An MLP output of exactly 0 (every hidden ReLU off) must not turn the step into NaN."""
    sampler = PatchSampler([2], mlp_channels=4)
    with torch.no_grad():
        sampler.mlp_0[0].bias.fill_(-100.0)  # every hidden unit off for small inputs
    features = [torch.randn(1, 2, 3, 3, requires_grad=True)]
    out = sampler(features, [torch.tensor([0, 4])])[0]
    assert torch.equal(out, torch.zeros_like(out))
    (out * torch.randn_like(out)).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in sampler.parameters() if p.grad is not None)
