"""FID/KID evaluation of a checkpoint on the test sets (both directions), or of two image folders.

Checkpoint mode translates every test image of A (B) with G_AB (G_BA), saves the translations as
PNG (``<run>/a2b/<stem>.png``, ``<run>/b2a/<stem>.png``) and scores A->B against the test B images
and B->A against the test A images. Real and translated images are scored at the data's crop size
(the size the generator sees); features come straight from the uint8 tensors that are saved, so
the numbers equal ``score_folders`` (and torch-fidelity's CLI) run on the same folders whenever the
test images are stored at the crop size (the shapes data and the 256 px CycleGAN sets).
Results go to ``metrics.json`` and ``metrics.md`` in the run folder and are printed. FID on fewer
than ``FID_MIN_IMAGES`` images per side is reported with a warning (a ``fid_warning`` field and a
line under the table); with one KID subset the KID std is null / "n/a", not a misleading 0.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from ugatit import atomic, interrupts
from ugatit.config_checks import FID_COUNT, POSITIVE_INT, check_eval_config
from ugatit.data.dataset import ImageFolderDataset
from ugatit.directions import SOURCE_TARGET
from ugatit.errors import ConfigError
from ugatit.evaluation.fid_kid import (
    KID_SEED,
    KID_SUBSETS,
    inception_features,
    score_folders,
    scores_from_features,
)
from ugatit.evaluation.glyph_metric.scoring import markdown_rows as glyph_table
from ugatit.evaluation.inception_weights import inception_weights_path
from ugatit.evaluation.judges import Judge, judge_for
from ugatit.inference.translation import (
    LoadedModel,
    heatmap_picture,
    load_checkpoint,
    output_names,
    resolve_device,
    save_png,
    to_pil,
    translate_images,
    unit_to_pil,
)
from ugatit.visualize import to_uint8

log = logging.getLogger(__name__)

EXTRACTOR = "torch-fidelity InceptionV3 (inception-v3-compat), 2048-d pool3 features"
RESIZE = "torch-fidelity's TF1-style bilinear resize to 299x299 inside the extractor"
# FID's estimate is biased upward, strongly so for a few hundred images or fewer (Chong & Forsyth,
# "Effectively Unbiased FID", 2020); below this many images per side eval says so.
FID_MIN_IMAGES = 200
ONE_SUBSET_STD = "n/a (1 subset)"


def fid_count_warning(n_real: int, n_fake: int) -> str | None:
    """What an FID on few images means, or None when both sides have enough."""
    if min(n_real, n_fake) >= FID_MIN_IMAGES:
        return None
    return (
        f"FID on {n_real} real / {n_fake} fake images: with fewer than {FID_MIN_IMAGES} images "
        "per side FID is strongly biased upward (it falls as images are added), so compare it "
        "only with FIDs computed on the same numbers of images."
    )


def _annotate(name: str, scores: dict[str, Any], kid_subsets: int) -> dict[str, Any]:
    """Add the small-count FID warning (also logged); drop the std of a single KID subset."""
    warning = fid_count_warning(int(scores["n_real"]), int(scores["n_fake"]))
    if warning:
        log.warning("%s: %s", name, warning)
        scores["fid_warning"] = warning
    if kid_subsets == 1:  # one subset has no spread: its std of 0 would read as certainty
        scores["kid_std"] = scores["kid_x100_std"] = None
    return scores


def _check_crop_size(loaded: LoadedModel, crop_size: int) -> None:
    """Full mode works at its training size only; light mode and CycleGAN accept any size."""
    if loaded.fixed_size is not None and crop_size != loaded.fixed_size:
        raise ConfigError(
            f"Checkpoint '{loaded.path}' holds a full-mode U-GAT-IT generator trained at "
            f"{loaded.fixed_size}x{loaded.fixed_size}, but data.crop_size={crop_size} resizes the "
            f"test images to {crop_size}x{crop_size}. Evaluate with data.crop_size="
            f"{loaded.fixed_size} (the data config it was trained with)."
        )


def _limited(dataset: ImageFolderDataset, max_images: int | None) -> ImageFolderDataset:
    if max_images is None or max_images >= len(dataset):
        return dataset
    return ImageFolderDataset(dataset.files[:max_images], dataset.size, dataset.unreadable_advice)


def _real_features(
    dataset: ImageFolderDataset, batch_size: int, num_workers: int, device: torch.device
) -> tuple[Tensor, float]:
    """Features of the real images in file order, and the seconds Inception took."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, shuffle=False)
    features, seconds = [], 0.0
    for batch in loader:
        tic = time.perf_counter()
        features.append(inception_features(to_uint8(batch["image"]), device))
        seconds += time.perf_counter() - tic
    return torch.cat(features), seconds


def _translate_domain(
    loaded: LoadedModel,
    dataset: ImageFolderDataset,
    direction: str,
    output_dir: Path,
    batch_size: int,
    num_workers: int,
    save_heatmaps: bool,
    judge: Judge | None = None,
) -> tuple[Tensor, float, dict[str, float] | None]:
    """Translate and save every image; returns the fakes' features in the saved files' sorted
    order, the seconds Inception took and, with a ``judge``, the shape or glyph metric's scores."""
    names = output_names([Path(f.name) for f in dataset.files])
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, shuffle=False)
    features: list[Tensor] = []
    inception_seconds = 0.0
    start = 0
    sources: list[Tensor] = []
    translations: list[Tensor] = []
    for batch in loader:
        results = translate_images(loaded, list(batch["image"]), direction)
        fakes = torch.stack([to_uint8(r.image) for r in results])
        if judge is not None:
            sources.append(to_uint8(batch["image"]))
            translations.append(fakes)
        for offset, result in enumerate(results):
            name = names[start + offset]
            save_png(to_pil(result.image), output_dir / direction / name)
            if save_heatmaps and result.heatmap is not None:
                picture = unit_to_pil(heatmap_picture(result.heatmap))
                save_png(picture, output_dir / "heatmaps" / direction / name)
        tic = time.perf_counter()
        features.append(inception_features(fakes, loaded.device))
        inception_seconds += time.perf_counter() - tic
        start += len(results)
    # score_folders reads files sorted by path, and KID's subsets depend on the order.
    order = sorted(range(len(names)), key=lambda i: str(names[i]))
    shape = None
    if judge is not None:
        shape = judge.score(direction, torch.cat(sources), torch.cat(translations))
    return torch.cat(features)[order], inception_seconds, shape


def evaluate_checkpoint(
    loaded: LoadedModel,
    datamodule: Any,
    output_dir: str | Path,
    batch_size: int = 16,
    max_images: int | None = None,
    save_heatmaps: bool = False,
    kid_subset_size: int | None = None,
    kid_subsets: int = KID_SUBSETS,
) -> dict[str, Any]:
    """Translate the test sets with the checkpoint's trained directions and score them.

    ``datamodule`` is an :class:`~ugatit.data.UnpairedDataModule`; ``max_images`` keeps the
    first N test images of each domain (quick checks; the paper's numbers use all of them).
    """
    POSITIVE_INT.check("batch_size", batch_size)
    FID_COUNT.check("max_images", max_images)
    POSITIVE_INT.check("kid_subsets", kid_subsets)
    _check_crop_size(loaded, int(datamodule.crop_size))
    output_dir = Path(output_dir)
    datamodule.prepare_data()
    datamodule.setup("test")
    datasets = {k: _limited(v, max_images) for k, v in datamodule.test_datasets.items()}
    workers = int(getattr(datamodule, "num_workers", 0))
    device = loaded.device

    needed = sorted({SOURCE_TARGET[d][1] for d in loaded.directions})
    real: dict[str, Tensor] = {}
    inception_seconds = 0.0
    for domain in needed:
        real[domain], seconds = _real_features(datasets[domain], batch_size, workers, device)
        inception_seconds += seconds
    inception_images = sum(len(real[k]) for k in needed)
    results: dict[str, Any] = {}
    judge = judge_for(datamodule)  # the shape or glyph metric of built-in data, else None
    shape_scores: dict[str, dict[str, float]] = {}
    for direction in loaded.directions:
        source, target = SOURCE_TARGET[direction]
        log.info("Translating %d test %s images (%s)", len(datasets[source]), source, direction)
        fake, seconds, shape = _translate_domain(
            loaded,
            datasets[source],
            direction,
            output_dir,
            batch_size,
            workers,
            save_heatmaps,
            judge,
        )
        if shape is not None:
            shape_scores[direction] = shape
        inception_seconds += seconds
        inception_images += len(fake)
        scores = scores_from_features(real[target], fake, kid_subset_size, kid_subsets)
        results[direction] = _annotate(direction, scores, kid_subsets)
    if shape_scores:
        results[judge.prefix] = shape_scores  # "shape" or "glyph"
        log.info("%s: %s", judge.title.capitalize(), judge.summary(shape_scores))
    results["protocol"] = {
        "checkpoint": str(loaded.path),
        "iteration": loaded.iteration,
        "directions": list(loaded.directions),
        "data_root": str(datamodule.root),
        "image_size": int(datamodule.crop_size),
        "real_images": "test images of the target domain, resized to data.crop_size",
        "counts": {f"test_{k}": len(v) for k, v in datasets.items()},
        "max_images": max_images,
        **_protocol_common(kid_subset_size, kid_subsets),
        "device": str(device),
        "inception_seconds_per_image": inception_seconds / max(1, inception_images),
    }
    return results


def _protocol_common(kid_subset_size: int | None, kid_subsets: int) -> dict[str, Any]:
    return {
        "weights_file": str(inception_weights_path()),
        "feature_extractor": EXTRACTOR,
        "resize": RESIZE,
        "kid_subset_size_requested": kid_subset_size,
        "kid_subsets": kid_subsets,
        "kid_seed": KID_SEED,
    }


def evaluate_folders(
    real_dir: str | Path,
    fake_dir: str | Path,
    batch_size: int = 16,
    device: str | torch.device = "auto",
    kid_subset_size: int | None = None,
    kid_subsets: int = KID_SUBSETS,
) -> dict[str, Any]:
    """FID/KID of every image in ``fake_dir`` against ``real_dir`` (each at its own size)."""
    POSITIVE_INT.check("batch_size", batch_size)
    POSITIVE_INT.check("kid_subsets", kid_subsets)
    resolved = resolve_device(device)
    scores = score_folders(
        real_dir, fake_dir, batch_size, resolved, kid_subset_size, kid_subsets, KID_SEED
    )
    return {
        "folders": _annotate("folders", scores, kid_subsets),
        "protocol": {
            "real_dir": str(real_dir),
            "fake_dir": str(fake_dir),
            "real_images": "every image directly inside real_dir, at its own size",
            "counts": {"real": scores["n_real"], "fake": scores["n_fake"]},
            **_protocol_common(kid_subset_size, kid_subsets),
            "device": str(resolved),
        },
    }


def markdown_table(results: Mapping[str, Any]) -> str:
    """One row per scored direction: FID, KID x100 mean +- std, image counts, KID subset size;
    then the protocol line and any small-count FID warning."""
    lines = [
        "| direction | FID | KID x100 (mean +- std) | real / fake images | KID subset size |",
        "|---|---|---|---|---|",
    ]
    warnings = []
    for name, scores in results.items():
        if name in ("protocol", "shape", "glyph"):
            continue
        std = scores["kid_x100_std"]
        std_text = ONE_SUBSET_STD if std is None else f"{std:.2f}"
        lines.append(
            f"| {name} | {scores['fid']:.2f} | {scores['kid_x100_mean']:.2f} +- "
            f"{std_text} | {scores['n_real']} / {scores['n_fake']} | "
            f"{scores['kid_subset_size']} |"
        )
        if scores.get("fid_warning"):
            warnings.append(f"Warning ({name}): {scores['fid_warning']}")
    protocol = results.get("protocol", {})
    source = (
        protocol.get("checkpoint") or f"{protocol.get('fake_dir')} vs {protocol.get('real_dir')}"
    )
    lines += [
        "",
        f"Scored: {source}. Inception weights: {protocol.get('weights_file')}; "
        f"{protocol.get('kid_subsets')} KID subsets (seed {protocol.get('kid_seed')}).",
    ]
    if warnings:
        lines += ["", *warnings]
    if results.get("shape"):
        lines += ["", *shape_table(results["shape"])]
    if results.get("glyph"):
        lines += ["", *glyph_table(results["glyph"])]
    return "\n".join(lines) + "\n"


def shape_table(shape: Mapping[str, Mapping[str, float]]) -> list[str]:
    """The shape metric as Markdown rows (see ugatit.evaluation.shape_metric.scoring for the columns)."""
    lines = [
        "| direction | shape success | unchanged | empty | centroid error | size ratio | images |",
        "|---|---|---|---|---|---|---|",
    ]
    for direction, s in shape.items():
        lines.append(
            f"| {direction} | {s['success']:.3f} | {s['unchanged']:.3f} | {s['empty']:.3f} | "
            f"{s['centroid_error']:.3f} | {s['size_ratio']:.2f} | {s['n']} |"
        )
    return lines


def write_reports(results: Mapping[str, Any], output_dir: str | Path) -> tuple[Path, Path]:
    """metrics.json (every number and the protocol) and metrics.md (the table)."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = output_dir / "metrics.json", output_dir / "metrics.md"
    atomic.write_text(json_path, json.dumps(results, indent=2) + "\n")
    atomic.write_text(md_path, markdown_table(results))
    return json_path, md_path


def _given(value: Any) -> bool:
    return value is not None and str(value).strip() not in ("", "???", "None")


def evaluate(cfg: Any) -> dict[str, Any]:
    """What src/eval.py runs: checkpoint mode (ckpt_path) or folder mode (real_dir + fake_dir).

    A stop (SIGTERM, Ctrl+C) ends in one message: every image written so far is complete, and
    the reports are written only at the end."""
    try:
        with interrupts.signals_raise():
            return _evaluate(cfg)
    except interrupts.STOPS as stop:
        raise interrupts.stopped(
            stop,
            f"eval wrote no metrics; the translations in {cfg.paths.output_dir} are each complete "
            "but not all there. Run the same command again to evaluate.",
        ) from None


def _evaluate(cfg: Any) -> dict[str, Any]:
    check_eval_config(cfg)
    ckpt_path, real_dir, fake_dir = (cfg.get(k) for k in ("ckpt_path", "real_dir", "fake_dir"))
    common = {
        "batch_size": cfg.get("batch_size", 16),
        "kid_subset_size": cfg.get("kid_subset_size"),
        "kid_subsets": cfg.get("kid_subsets", KID_SUBSETS),
    }
    if _given(real_dir) or _given(fake_dir):
        if _given(ckpt_path):
            raise ConfigError(
                "Give either ckpt_path (translate and score the test sets) or real_dir and "
                "fake_dir (score two folders), not both."
            )
        if not (_given(real_dir) and _given(fake_dir)):
            raise ConfigError(
                "Folder mode needs both real_dir=FOLDER and fake_dir=FOLDER; "
                f"got real_dir={real_dir!r}, fake_dir={fake_dir!r}."
            )
        results = evaluate_folders(real_dir, fake_dir, device=cfg.get("device", "auto"), **common)
    else:
        loaded = load_checkpoint(ckpt_path, cfg.get("device", "auto"))
        datamodule = hydra.utils.instantiate(cfg.data)
        results = evaluate_checkpoint(
            loaded,
            datamodule,
            cfg.paths.output_dir,
            max_images=cfg.get("max_images"),
            save_heatmaps=bool(cfg.get("save_heatmaps", False)),
            **common,
        )
    json_path, _ = write_reports(results, cfg.paths.output_dir)
    print(markdown_table(results))
    log.info("Metrics written to %s", json_path)
    return results
