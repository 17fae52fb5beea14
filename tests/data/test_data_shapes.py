"""The built-in shapes data set: deterministic, complete, fast, and redone after interruption."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ugatit.data import shapes
from ugatit.data.errors import DataError
from ugatit.data.images import list_images
from ugatit.data.shapes import MARKER, ensure_shapes


def _contents(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_counts_sizes_and_determinism(tmp_path: Path) -> None:
    root = ensure_shapes(tmp_path / "one" / "shapes", image_size=32, n_train=6, n_test=3, seed=7)
    counts = {s: len(list_images(root / s)) for s in ("trainA", "trainB", "testA", "testB")}
    assert counts == {"trainA": 6, "trainB": 6, "testA": 3, "testB": 3}
    assert all(Image.open(p).size == (32, 32) for p in root.rglob("*.png"))
    assert (root / MARKER).is_file()
    # no staging folder left; the hidden lock file stays for the next run to take
    assert sorted(p.name for p in root.parent.iterdir()) == [".shapes.lock", "shapes"]

    same = ensure_shapes(tmp_path / "two", image_size=32, n_train=6, n_test=3, seed=7)
    assert _contents(same) == _contents(root)
    other = ensure_shapes(tmp_path / "three", image_size=32, n_train=6, n_test=3, seed=8)
    assert _contents(other) != _contents(root)


def test_domains_differ_in_geometry() -> None:
    """A holds rounded shapes, B angular ones: B's shape fills its bounding box far more."""

    def fill_ratio(kind: str, seed: int) -> float:
        image = np.asarray(shapes.draw_shape(np.random.default_rng(seed), kind, 64), float)
        background = image[0, 0] if np.ptp(image[:2, :2]) < 30 else image[-1, -1]
        mask = np.linalg.norm(image - background, axis=-1) > 40
        ys, xs = np.nonzero(mask)
        box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        return mask.sum() / box

    rounds = [fill_ratio("round", s) for s in range(20)]
    squares = [fill_ratio("rect", s) for s in range(20)]
    assert np.median(rounds) < 0.82 < np.median(squares)


def test_default_size_is_fast_and_second_call_is_free(tmp_path: Path) -> None:
    start = time.perf_counter()
    root = ensure_shapes(tmp_path / "shapes")
    assert time.perf_counter() - start < 15.0  # about 1.5 s alone; slack for a busy machine
    assert len(list_images(root / "trainA")) == 400 and len(list_images(root / "testB")) == 50
    marker_time = (root / MARKER).stat().st_mtime_ns
    start = time.perf_counter()
    ensure_shapes(tmp_path / "shapes")
    assert time.perf_counter() - start < 0.5
    assert (root / MARKER).stat().st_mtime_ns == marker_time


def test_interrupted_generation_is_redone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "shapes"
    calls = {"n": 0}
    real_draw = shapes.draw_shape

    def failing_draw(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_draw(*args, **kwargs)

    monkeypatch.setattr(shapes, "draw_shape", failing_draw)
    with pytest.raises(KeyboardInterrupt):
        ensure_shapes(root, image_size=16, n_train=4, n_test=2)
    # the staging folder is removed (the hidden lock file is all that remains)
    assert [p.name for p in tmp_path.iterdir()] == [".shapes.lock"]

    # A half-written folder from a killed process (no marker) is regenerated, not trusted.
    (root / "trainA").mkdir(parents=True)
    Image.new("RGB", (16, 16)).save(root / "trainA" / "00000.png")
    monkeypatch.setattr(shapes, "draw_shape", real_draw)
    ensure_shapes(root, image_size=16, n_train=4, n_test=2)
    assert len(list_images(root / "trainA")) == 4 and (root / MARKER).is_file()
    assert np.asarray(Image.open(root / "trainA" / "00000.png")).std() > 0


def test_foreign_folder_is_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "shapes"
    root.mkdir()
    (root / "thesis.pdf").write_bytes(b"precious")
    with pytest.raises(DataError, match="holds other files"):
        ensure_shapes(root, image_size=16, n_train=2, n_test=1)
    assert (root / "thesis.pdf").read_bytes() == b"precious"


@pytest.mark.parametrize("pair", list(shapes.PAIRS))
def test_every_pair_generates_its_two_kinds(tmp_path: Path, pair: str) -> None:
    root = ensure_shapes(tmp_path / pair, image_size=32, n_train=2, n_test=1, pair=pair)
    assert {s: len(list_images(root / s)) for s in shapes.SPLITS} == {
        "trainA": 2, "trainB": 2, "testA": 1, "testB": 1
    }  # fmt: skip
    kind_a, kind_b = shapes.PAIRS[pair]
    rng = np.random.default_rng([0, 0, 0])  # trainA/00000.png is drawn from this seed
    expected = shapes.draw_shape(rng, kind_a, 32)
    assert np.array_equal(
        np.asarray(Image.open(root / "trainA" / "00000.png")), np.asarray(expected)
    )
    assert kind_a != kind_b


def test_another_pair_in_the_same_folder_is_redrawn_and_unknown_pairs_refused(tmp_path):
    root = ensure_shapes(tmp_path / "s", image_size=16, n_train=2, n_test=1, pair="round_rect")
    before = (root / "trainA" / "00000.png").read_bytes()
    ensure_shapes(root, image_size=16, n_train=2, n_test=1, pair="hourglass_diamond")
    assert (root / "trainA" / "00000.png").read_bytes() != before
    with pytest.raises(DataError, match="data.pair='hearts' is not a built-in pair"):
        ensure_shapes(tmp_path / "t", pair="hearts")


def _long_axis_degrees(points: np.ndarray) -> float | None:
    """Angle of the outline's long axis in (-90, 90], or None for a shape without one."""
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(points.T))
    if eigenvalues[1] < 1.1 * eigenvalues[0]:
        return None  # a circle or a square: no orientation to keep
    x, y = eigenvectors[:, 1]
    angle = np.degrees(np.arctan2(y, x))
    return float((angle + 90) % 180 - 90)


def test_round_rect_kinds_lean_alike() -> None:
    """An ellipse's counterpart is the rectangle at its angle, so both kinds draw angles alike:
    upright half of the time, else at most 15 degrees off (ellipses at any angle made the pair
    differ in more than the outline, and rectangles were the failures; docs/quality.md)."""
    for kind in ("round", "rect"):
        angles = [
            _long_axis_degrees(shapes.outline(np.random.default_rng(seed), kind, 256))
            for seed in range(300)
        ]
        leaning = [a for a in angles if a is not None]
        assert len(leaning) > 100, kind
        assert max(abs(a) for a in leaning) <= 15.0 + 1e-6, kind
        upright = sum(abs(a) < 1e-6 for a in leaning) / len(leaning)
        assert 0.35 < upright < 0.65, (kind, upright)


def test_shapes_are_placed_by_their_centroid() -> None:
    for kind in shapes.KINDS:
        points = shapes.outline(np.random.default_rng(3), kind, 256)
        assert np.allclose(shapes.centroid(points), 0.0, atol=1e-6), kind


def _generate_in_child(root: str, barrier) -> int:
    barrier.wait()
    ensure_shapes(Path(root), image_size=16, n_train=30, n_test=2)
    return len(list((Path(root) / "trainA").iterdir()))


def test_runs_started_together_generate_once_and_both_read_it(tmp_path: Path) -> None:
    """Two processes (a multirun, two terminals) asking for the same data at once: before the
    lock, the second replaced the folder while the first was reading it."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(2)
    root = tmp_path / "shapes"
    with context.Pool(2) as pool:
        counts = pool.starmap(_generate_in_child, [(str(root), barrier)] * 2)
    assert counts == [30, 30]
    leftovers = [p.name for p in tmp_path.iterdir() if "partial" in p.name]
    assert leftovers == []
    assert (tmp_path / ".shapes.lock").exists()
