"""Sample grids: every column of a row comes from the same input image, under a header."""

import torch

from helpers import TINY_UGATIT_NETS, tiny_module
from ugatit.training.cycle import CycleTranslation
from ugatit.visualize import HEATMAP_LABEL, sample_grid


def test_each_row_follows_one_input_through_the_official_columns():
    torch.manual_seed(0)
    module = CycleTranslation(**TINY_UGATIT_NETS, schedule={"max_iterations": 2}).eval()
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    rows = module.visuals(a, b)
    names = [v.name for v in rows["a2b"]]
    assert names == ["input", "identity", "translation", "reconstruction"]
    with torch.no_grad():
        # A->B row: identity is G_BA on the A image (not G_AB on a B image)
        assert torch.equal(rows["a2b"][1].image, module.generator_ba(a).image)
        fake = module.generator_ab(a).image
        assert torch.equal(rows["a2b"][2].image, fake)
        assert torch.equal(rows["a2b"][3].image, module.generator_ba(fake).image)
        assert torch.equal(rows["b2a"][1].image, module.generator_ab(b).image)
    grid = sample_grid(rows)
    # 7 columns (3 heatmaps beside their images) of 32 px with 2 px padding; 4 rows + header
    assert grid.shape[-1] == 7 * 34 + 2
    assert grid.shape[-2] == 14 + 4 * 34 + 2
    header = grid[:, :14]
    assert (header < 0.5).any()  # the column names are drawn in black on white


def test_cyclegan_grid_has_no_heatmap_columns():
    module = tiny_module().eval()
    rows = module.visuals(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))
    assert all(v.heatmap is None for v in rows["a2b"])
    assert sample_grid(rows).shape[-1] == 4 * 34 + 2
    assert HEATMAP_LABEL == "attention"
