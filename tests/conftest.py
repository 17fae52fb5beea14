import sys
from pathlib import Path

# tests/helpers/ is imported as a plain package by the tests (from helpers import ...).
sys.path.insert(0, str(Path(__file__).parent))


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def shapes_dir(tmp_path_factory) -> Path:
    """A data folder shared by the session: the first run that needs shapes generates them."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def one_thread():
    """Tiny networks on 2 shared cores: one thread avoids contention stalls (10x and more).

    Test modules opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def shape_classifier(shapes_dir):
    """The shape metric's classifier, trained once per session (about 35 s alone) and cached
    where runs on ``shapes_dir`` look for it."""
    from ugatit.evaluation.shape_metric.classifier import load_or_train

    return load_or_train(shapes_dir / "shapes" / "round_rect")


@pytest.fixture(scope="session")
def glyph_classifiers(shapes_dir):
    """The glyph metric's letter classifier and the default pair's style classifier, trained once
    per session (about 25 s each alone) and cached where runs on ``shapes_dir`` look for them."""
    from ugatit.evaluation.glyph_metric.classifier import (
        load_letter_classifier,
        load_style_classifier,
    )

    root = shapes_dir / "glyphs" / "sans_serif"
    return load_letter_classifier(root), load_style_classifier(root, "sans_serif")
