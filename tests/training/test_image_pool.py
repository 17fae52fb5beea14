import torch

from ugatit.training.image_pool import ImagePool


def test_disabled_pool_returns_the_input():
    x = torch.randn(2, 3, 4, 4)
    assert ImagePool(0).query(x) is x


def test_pool_fills_then_mixes_history_and_new_images():
    pool = ImagePool(size=4, seed=0)
    first = [torch.full((1, 1, 2, 2), float(i)) for i in range(4)]
    for x in first:
        assert torch.equal(pool.query(x), x)  # filling: new images pass through
    returned = [
        pool.query(torch.full((1, 1, 2, 2), 100.0 + i)).flatten()[0].item() for i in range(200)
    ]
    from_history = sum(v < 100 or int(v) - 100 < i for i, v in enumerate(returned))
    assert 60 < from_history < 140  # about half come from the history


def test_pool_state_round_trip_reproduces_the_draws():
    pool = ImagePool(size=3, seed=1)
    for i in range(5):
        pool.query(torch.full((1, 1, 1, 1), float(i)))
    state = pool.state_dict()
    expected = [pool.query(torch.full((1, 1, 1, 1), 10.0 + i)).item() for i in range(20)]
    restored = ImagePool(size=3, seed=999)
    restored.load_state_dict(state)
    assert [
        restored.query(torch.full((1, 1, 1, 1), 10.0 + i)).item() for i in range(20)
    ] == expected
