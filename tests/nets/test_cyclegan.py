import torch

from ugatit.nets.cyclegan import PatchGANDiscriminator, ResnetGenerator
from ugatit.nets.outputs import DiscriminatorHead, GeneratorOutput


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_match_the_official_cyclegan():
    with torch.device("meta"):
        assert count(ResnetGenerator(ngf=64, n_blocks=9)) == 11_378_179
        assert count(ResnetGenerator(ngf=64, n_blocks=6)) == 7_837_699
        assert count(PatchGANDiscriminator(ndf=64, n_layers=3)) == 2_764_737


def test_state_dict_keys_follow_the_official_sequential_layout():
    keys = set(ResnetGenerator(ngf=8, n_blocks=9).state_dict())
    # official: model.1 first conv, model.10..18 residual blocks, model.19/22 transposed convs, model.26 last conv
    for key in (
        "model.1.weight",
        "model.10.conv_block.1.weight",
        "model.18.conv_block.5.bias",
        "model.19.weight",
        "model.22.weight",
        "model.26.bias",
    ):
        assert key in keys
    d_keys = set(PatchGANDiscriminator(ndf=8).state_dict())
    assert {
        "model.0.weight",
        "model.2.weight",
        "model.5.weight",
        "model.8.weight",
        "model.11.weight",
    } <= d_keys


def test_output_shapes_and_structures():
    g = ResnetGenerator(ngf=8, n_blocks=2)
    d = PatchGANDiscriminator(ndf=8)
    x = torch.randn(2, 3, 64, 64)
    out = g(x)
    assert isinstance(out, GeneratorOutput)
    assert out.image.shape == x.shape and out.cam_logit is None and out.heatmap is None
    assert out.image.abs().max() <= 1.0
    heads = d(x)
    assert len(heads) == 1 and isinstance(heads[0], DiscriminatorHead)
    assert heads[0].patch_logit.shape == (2, 1, 6, 6)  # 64 px -> 6x6 (256 px -> 30x30)
    with torch.device("meta"):
        big = PatchGANDiscriminator(ndf=64)
        assert big(torch.empty(1, 3, 256, 256))[0].patch_logit.shape == (1, 1, 30, 30)


def test_weights_are_initialised_normal_002():
    torch.manual_seed(0)
    g = ResnetGenerator(ngf=32, n_blocks=9)
    weight = g.model[10].conv_block[1].weight
    assert abs(weight.std().item() - 0.02) < 0.002
    assert abs(weight.mean().item()) < 0.002
    assert torch.count_nonzero(g.model[1].bias) == 0


def test_patchgan_rejects_images_too_small_with_a_clear_message():
    d = PatchGANDiscriminator(ndf=4)
    assert d(torch.randn(1, 3, 24, 24))[0].patch_logit.shape == (1, 1, 1, 1)
    import pytest

    with pytest.raises(ValueError, match="at least 24x24 px, got 16x16"):
        d(torch.randn(1, 3, 16, 16))
