"""AdaLIN, LIN, AdaIN and the ablation norms against direct computations of their formulas."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ugatit.nets.norms import (
    LIN,
    AdaIN,
    AdaLIN,
    clip_rho_,
    clip_unit,
    make_decoder_norm,
    make_upsample_norm,
)

EPS = 1e-5


def _normalise(x: torch.Tensor, dims: tuple[int, ...], unbiased: bool) -> torch.Tensor:
    """Mean and variance written out by hand: sum of squares over n or n - 1."""
    n = 1
    for d in dims:
        n *= x.shape[d]
    mean = x.sum(dim=dims, keepdim=True) / n
    sq = ((x - mean) ** 2).sum(dim=dims, keepdim=True)
    var = sq / (n - 1 if unbiased else n)
    return (x - mean) / (var + EPS) ** 0.5


def _inputs(c: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, c, 5, 6, generator=g, dtype=torch.float64) * 3 + 1
    gamma = torch.randn(3, c, generator=g, dtype=torch.float64)
    beta = torch.randn(3, c, generator=g, dtype=torch.float64)
    return x, gamma, beta


@pytest.mark.parametrize("unbiased", [False, True])
@pytest.mark.parametrize("offset", [0.0, 0.1])
def test_adalin_matches_formula(unbiased: bool, offset: float) -> None:
    x, gamma, beta = _inputs()
    norm = AdaLIN(4, rho_init=1.0, rho_offset=offset, unbiased_variance=unbiased).double()
    with torch.no_grad():
        norm.rho.copy_(torch.tensor([1.0, 0.5, 0.05, 0.0]).view(1, 4, 1, 1))
    rho = (norm.rho.detach() - offset).clamp(0, 1)
    a_i, a_l = _normalise(x, (2, 3), unbiased), _normalise(x, (1, 2, 3), unbiased)
    expected = gamma[:, :, None, None] * (rho * a_i + (1 - rho) * a_l) + beta[:, :, None, None]
    torch.testing.assert_close(norm(x, gamma, beta), expected)


def test_variance_estimator_changes_output() -> None:
    x, gamma, beta = _inputs()
    biased = AdaLIN(4, unbiased_variance=False).double()(x, gamma, beta)
    unbiased = AdaLIN(4, unbiased_variance=True).double()(x, gamma, beta)
    assert not torch.allclose(biased, unbiased)


def test_adalin_default_rho_and_gradient_at_boundary() -> None:
    norm = AdaLIN(4)
    assert torch.all(norm.rho == 0.9) and norm.rho.shape == (1, 4, 1, 1)
    with torch.no_grad():
        norm.rho.fill_(1.0)
    x, gamma, beta = (t.float() for t in _inputs())
    norm(x, gamma, beta).square().sum().backward()
    assert torch.all(norm.rho.grad != 0)  # the forward clamp must not block rho at 1.0


def test_clip_unit_values_and_tf_gradient() -> None:
    r = torch.tensor([-0.5, 0.0, 0.4, 1.0, 1.5], requires_grad=True)
    out = clip_unit(r)
    out.sum().backward()
    assert out.tolist() == pytest.approx([0.0, 0.0, 0.4, 1.0, 1.0])
    assert r.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


@pytest.mark.parametrize("unbiased", [False, True])
def test_lin_init_and_formula(unbiased: bool) -> None:
    norm = LIN(4, unbiased_variance=unbiased).double()
    assert torch.all(norm.rho == 0) and torch.all(norm.gamma == 1) and torch.all(norm.beta == 0)
    x, gamma, beta = _inputs()
    with torch.no_grad():
        norm.rho.copy_(torch.tensor([0.2, 0.9, 0.0, 1.0]).view(1, 4, 1, 1))
        norm.gamma.copy_(gamma[0].view(1, 4, 1, 1))
        norm.beta.copy_(beta[0].view(1, 4, 1, 1))
    rho = norm.rho.detach()
    a_i, a_l = _normalise(x, (2, 3), unbiased), _normalise(x, (1, 2, 3), unbiased)
    expected = norm.gamma.detach() * (rho * a_i + (1 - rho) * a_l) + norm.beta.detach()
    torch.testing.assert_close(norm(x), expected)


def test_adain_matches_formula() -> None:
    x, gamma, beta = _inputs()
    expected = gamma[:, :, None, None] * _normalise(x, (2, 3), True) + beta[:, :, None, None]
    torch.testing.assert_close(AdaIN(4, unbiased_variance=True)(x, gamma, beta), expected)


@pytest.mark.parametrize(("kind", "dims"), [("in", (2, 3)), ("ln", (1, 2, 3))])
def test_plain_decoder_norms_ignore_style(kind: str, dims: tuple[int, ...]) -> None:
    x, gamma, beta = _inputs()
    norm = make_decoder_norm(kind, 4).double()
    out = norm(x, gamma, beta)
    torch.testing.assert_close(out, norm(x, -gamma, beta * 2))
    torch.testing.assert_close(out, _normalise(x, dims, False))  # affine starts at 1 and 0
    assert {n for n, _ in norm.named_parameters()} == {"weight", "bias"}


def test_group_norm_divides_channels() -> None:
    assert make_decoder_norm("gn", 256).num_groups == 32
    assert make_decoder_norm("gn", 8).num_groups == 8
    assert make_upsample_norm("gn", 48).num_groups == 16
    x = torch.randn(2, 8, 4, 4)
    assert make_decoder_norm("gn", 8)(x, None, None).shape == x.shape


@pytest.mark.parametrize("kind", ["adalin", "adain", "in", "ln", "gn"])
def test_every_kind_builds_and_runs(kind: str) -> None:
    x, gamma, beta = (t.float() for t in _inputs(8))
    assert make_decoder_norm(kind, 8)(x, gamma, beta).shape == x.shape
    assert make_upsample_norm(kind, 8)(x).shape == x.shape


def test_upsample_norm_choice() -> None:
    assert isinstance(make_upsample_norm("adalin", 8), LIN)
    for kind, groups in [("adain", 8), ("in", 8), ("ln", 1)]:
        norm = make_upsample_norm(kind, 8)
        assert isinstance(norm, nn.GroupNorm) and norm.num_groups == groups and norm.affine


def test_unknown_kind_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"'batch'.*model\.generator\.norm.*adalin, adain"):
        make_decoder_norm("batch", 8)
    with pytest.raises(ValueError, match="'batch'"):
        make_upsample_norm("batch", 8)


def test_clip_rho_clamps_only_rho() -> None:
    tree = nn.Sequential(AdaLIN(3), nn.Sequential(LIN(3)), nn.Linear(2, 2))
    with torch.no_grad():
        tree[0].rho.copy_(torch.tensor([-0.5, 0.3, 1.7]).view(1, 3, 1, 1))
        tree[1][0].rho.fill_(2.0)
        tree[1][0].gamma.fill_(5.0)
        tree[2].weight.fill_(3.0)
    clip_rho_(tree)
    assert tree[0].rho.flatten().tolist() == pytest.approx([0.0, 0.3, 1.0])
    assert torch.all(tree[1][0].rho == 1.0)
    assert torch.all(tree[1][0].gamma == 5.0) and torch.all(tree[2].weight == 3.0)
    assert tree[0].rho.requires_grad
