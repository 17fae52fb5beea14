"""The two-sided cycle family: U-GAT-IT and CycleGAN, two generators and two discriminator sets.

Each iteration generates both directions once; the discriminators learn from the detached fakes
(through the image pool when configured) and the generators from the adversarial, cycle,
identity and CAM terms, reusing the same fakes. The order of the two updates is the official
code's of each method (``update_order``): U-GAT-IT updates the discriminators first and then the
generators against the updated discriminators; CycleGAN the generators first, against the
discriminators as they were, then the discriminators. Terms whose weight is 0 or whose network
outputs are None are skipped, so the two methods differ only in networks, weights and order.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ugatit.errors import ConfigError
from ugatit.nets.outputs import GeneratorOutput
from ugatit.registry import register_method
from ugatit.rules import COUNT, FLAG, WEIGHT, OneOf
from ugatit.training.augment import PolicyRule, diff_augment, parse_policy
from ugatit.training.base import (
    OptimizerSpec,
    Step,
    TranslationMethod,
    build_generator,
    build_network,
    plain,
)
from ugatit.training.discriminator_views import discriminator_view
from ugatit.training.image_pool import ImagePool
from ugatit.training.losses import (
    discriminator_adv_loss,
    generator_adv_loss,
    generator_cam_loss,
    l1,
    reconstruction_l1,
)
from ugatit.training.settings import (
    AdversarialLoss,
    MethodSettings,
    section,
    setting,
    store_defaults,
)
from ugatit.visualize import Visual

UPDATE_ORDERS = ("discriminator_first", "generator_first")


class Side(NamedTuple):
    """One source domain's images and their translation: where a generator chain starts."""

    source: str  # "a" or "b"
    real: Tensor
    fake: GeneratorOutput  # ``real`` translated into the other domain

    @property
    def target(self) -> str:
        return "b" if self.source == "a" else "a"


def _sum(values: Iterable[Tensor]) -> Tensor:
    """x + y + ..., left to right: the joint step's arithmetic, whatever the number of parts."""
    return functools.reduce(operator.add, values)


def _run_together(
    generator: nn.Module, inputs: list[Tensor], batched: bool = True
) -> list[GeneratorOutput]:
    """``generator`` on each of ``inputs``, in one call when ``batched`` (same-size inputs)."""
    if not inputs:
        return []
    if not batched or len(inputs) == 1:
        return [generator(x) for x in inputs]
    return split_outputs(generator(torch.cat(inputs)), [x.shape[0] for x in inputs])


def split_outputs(output: NamedTuple, sizes: list[int]) -> list[Any]:
    """A network's output for concatenated inputs (a GeneratorOutput or DiscriminatorHead whose
    fields are batch tensors or None) -> one output of the same type per input."""
    parts = [[None] * len(sizes) if v is None else v.split(sizes) for v in output]
    return [type(output)(*(p[i] for p in parts)) for i in range(len(sizes))]


@dataclasses.dataclass(frozen=True)
class CycleLoss(AdversarialLoss):
    """The generators' and discriminators' loss terms; a weight of 0 skips the term (and its
    forward passes). Defaults: U-GAT-IT's paper."""

    cycle_weight: float = setting(10.0, WEIGHT, "A->B->A and B->A->B reconstruction (L1)")
    identity_weight: float = setting(10.0, WEIGHT, "each generator on its own target domain (L1)")
    cam_weight: float = setting(1000.0, WEIGHT, "the generators' CAM classifiers")
    cycle_colour: bool = setting(
        True,
        FLAG,
        "false: cycle and identity compare per-image standardized channels (not in the papers: "
        "the generator's instance norms hide each image's colours)",
    )


@dataclasses.dataclass(frozen=True)
class CycleSettings(MethodSettings):
    """U-GAT-IT's and CycleGAN's settings besides the networks; defaults: U-GAT-IT's paper."""

    loss: CycleLoss = section(CycleLoss, "loss weights")
    pool_size: int = setting(0, COUNT, "fakes kept for the discriminators (0: off)")
    update_order: str = setting(
        "discriminator_first",
        OneOf(
            UPDATE_ORDERS,
            why="discriminator_first: U-GAT-IT's official code; generator_first: CycleGAN's",
        ),
        "which network of an iteration is updated first",
    )
    batch_generator_calls: bool = setting(
        True, FLAG, "reconstruction and identity passes of a generator in one call (same maths)"
    )
    batch_discriminator_calls: bool = setting(
        True, FLAG, "real and fake images through a discriminator in one call (same maths)"
    )
    parallel_directions: bool = setting(
        False, FLAG, "the two directions in two threads on a CPU (same maths, two half-steps)"
    )
    diff_augment: str | None = setting(
        None, PolicyRule(), "DiffAugment of the discriminators' inputs (null: off)"
    )


# CycleGAN's paper and official code, where they differ from U-GAT-IT's (the defaults):
# conf/model/cyclegan.yaml starts from these, and so do converted official checkpoints
CYCLEGAN_PAPER: dict[str, Any] = {
    "loss": {"identity_weight": 5.0, "cam_weight": 0.0, "d_loss_scale": 0.5},  # 0.5 * cycle
    "optimizer": {"lr": 2e-4, "weight_decay": 0.0},
    "schedule": {"max_iterations": None, "max_epochs": 200},  # 100 constant + 100 decaying
    "pool_size": 50,
    "update_order": "generator_first",  # G against D as it was, then D
}

store_defaults("ugatit", CycleSettings())
store_defaults("cyclegan", CycleSettings.parse(CYCLEGAN_PAPER, "model"))


@register_method
class CycleTranslation(TranslationMethod):
    """Unpaired translation both ways with cycle consistency (U-GAT-IT, CycleGAN).

    ``generator`` and ``discriminator`` are Hydra configs (``_target_`` + arguments) built twice,
    once per direction/domain, so a checkpoint alone is enough to rebuild the model; the other
    keywords are :class:`CycleSettings`.
    """

    directions = ("a2b", "b2a")
    Settings = CycleSettings

    def __init__(
        self, generator: Mapping[str, Any], discriminator: Mapping[str, Any], **settings: Any
    ) -> None:
        super().__init__()
        generator, discriminator = plain(generator), plain(discriminator)
        s: CycleSettings = self.setup_common(generator, discriminator, settings)
        self.loss_settings = s.loss
        self.update_order = s.update_order
        self.batch_generator_calls = s.batch_generator_calls
        self.batch_discriminator_calls = s.batch_discriminator_calls
        # each discriminator's loss and each source domain's generator chain back-propagated on
        # its own, the two directions in two threads on a CPU (ugatit.training.two_threads)
        self.parallel_directions = s.parallel_directions
        if self.parallel_directions and s.diff_augment:
            raise ConfigError(
                "model.parallel_directions=true runs the two directions in two threads, which "
                "would draw DiffAugment's random numbers in no fixed order; set "
                "model.diff_augment=null or model.parallel_directions=false."
            )
        self.generator_ab = build_generator(generator)
        self.generator_ba = build_generator(generator)
        # discriminator_a judges domain A (real A vs G_BA's fakes), discriminator_b domain B.
        self.discriminator_a: nn.Module = build_network(discriminator, "model.discriminator")
        self.discriminator_b: nn.Module = build_network(discriminator, "model.discriminator")
        self.add_weight_averages()
        # DiffAugment of every discriminator input, real and fake, in both steps (off: ())
        self.augment_policy = parse_policy(s.diff_augment)
        # what the discriminators judge: the images (the papers) or their figure-ground maps
        self.discriminator_view = discriminator_view(s.discriminator_input)
        seed = s.seed or 0
        self.pool_a = ImagePool(s.pool_size, seed=seed)
        self.pool_b = ImagePool(s.pool_size, seed=seed + 1)

    # ------------------------------------------------------------------ declarations
    def optimizer_specs(self) -> list[OptimizerSpec]:
        s = self.optimizer_settings
        return [
            OptimizerSpec("generator", ("generator_ab", "generator_ba"), s.lr),
            OptimizerSpec("discriminator", ("discriminator_a", "discriminator_b"), s.d_lr or s.lr),
        ]

    def forward_pass(self, real_a: Tensor, real_b: Tensor) -> dict[str, Any]:
        fake_b, fake_a = self.run_pair(
            lambda: self.generator_ab(real_a), lambda: self.generator_ba(real_b)
        )
        return {"real_a": real_a, "real_b": real_b, "fake_b": fake_b, "fake_a": fake_a}

    def training_steps(self) -> list[Step]:
        discriminator = Step("d", ("discriminator",), self._discriminator_step)
        generator = Step("g", ("generator",), self._generator_step, self.after_generator_step)
        if self.update_order == "generator_first":
            return [generator, discriminator]
        return [discriminator, generator]

    def _discriminator_step(self, state: Mapping[str, Any]) -> tuple[Any, dict[str, Tensor]]:
        judged = [
            ("a", state["real_a"], state["fake_a"].image.detach()),
            ("b", state["real_b"], state["fake_b"].image.detach()),
        ]
        return self._over_sides(self.discriminator_loss, judged)

    def _generator_step(self, state: Mapping[str, Any]) -> tuple[Any, dict[str, Tensor]]:
        sides = [
            Side("a", state["real_a"], state["fake_b"]),
            Side("b", state["real_b"], state["fake_a"]),
        ]
        return self._over_sides(self.generator_loss, sides)

    def _over_sides(
        self, loss: Callable[[Sequence[Any]], tuple[Tensor, dict[str, Tensor]]], items: list[Any]
    ) -> tuple[Any, dict[str, Tensor]]:
        """``loss`` of both sides' ``items`` at once (the joint step), or with
        ``parallel_directions`` once per side in two threads: the two parts back-propagate on
        their own, and a term both sides log (a total, g_cycle, ...) is their sum."""
        if not self.parallel_directions:
            return loss(items)
        (part_a, terms_a), (part_b, terms_b) = self.run_pair(
            lambda: loss(items[:1]), lambda: loss(items[1:])
        )
        terms = {**terms_a, **terms_b}
        for key in terms_a.keys() & terms_b.keys():
            terms[key] = terms_a[key] + terms_b[key]
        return [part_a, part_b], terms

    # ------------------------------------------------------------------ losses
    def discriminator_loss(
        self, judged: Sequence[tuple[str, Tensor, Tensor]]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """LSGAN (or the configured loss) of each listed domain's discriminators on its real
        images and the (pooled) fakes translated into it, ``(domain, real, fake)``, weighted
        and summed. The training step passes detached fakes; the benchmark's official ordering
        passes them with their graph, as the official code does."""
        w = self.loss_settings
        terms = {f"d_{domain}": self._discriminator_term(domain, r, f) for domain, r, f in judged}
        total = w.d_loss_scale * w.adv_weight * _sum(terms.values())
        return total, {**terms, "d_total": total}

    def _discriminator_term(self, domain: str, real: Tensor, fake: Tensor) -> Tensor:
        """One domain's discriminator loss on its real images and (pooled) fakes."""
        pool = self.pool_a if domain == "a" else self.pool_b
        heads = self._judge_real_and_fake(self.discriminator(domain), real, pool.query(fake))
        return discriminator_adv_loss(*heads, self.loss_settings.gan_mode)

    def _judge_real_and_fake(
        self, discriminator: nn.Module, real: Tensor, fake: Tensor
    ) -> tuple[Any, Any]:
        """The discriminator's verdicts on real and on fake images: two calls (the official
        codes), or with ``batch_discriminator_calls`` one call on both, split afterwards. Every
        discriminator here judges each image alone; a spectral-normalised one (U-GAT-IT) is told
        the two groups and runs one power iteration for each, as the two calls would, so the
        losses and gradients are the same. DiffAugment draws for real, then fake, as before."""
        if not self.batch_discriminator_calls or real.shape[1:] != fake.shape[1:]:
            return self._judge(discriminator, real), self._judge(discriminator, fake)
        sizes = [real.shape[0], fake.shape[0]]
        images = torch.cat([self._discriminator_input(x) for x in (real, fake)])
        if getattr(discriminator, "accepts_call_groups", False):
            heads = discriminator(images, sizes)
        else:
            heads = discriminator(images)
        pairs = [split_outputs(head, sizes) for head in heads]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def _judge(self, discriminator: nn.Module, images: Tensor) -> Any:
        """The discriminator on ``images``, through DiffAugment when it is on."""
        return discriminator(self._discriminator_input(images))

    def _discriminator_input(self, images: Tensor) -> Tensor:
        """What a discriminator sees of ``images``: DiffAugment's draw when it is on, through
        the configured view (``discriminator_input``)."""
        return self.discriminator_view(diff_augment(images, self.augment_policy))

    def generator_loss(self, sides: Sequence[Side]) -> tuple[Tensor, dict[str, Tensor]]:
        """Adversarial, cycle, identity and CAM terms of the generator chains that start from
        ``sides``, weighted and summed (a weight of 0 skips its term and its passes). Both sides:
        the joint step. One side: one thread of ``parallel_directions``; the two sides share no
        graph, and their sum is the joint loss up to rounding."""
        w = self.loss_settings
        terms: dict[str, Tensor] = {}
        weighted: list[Tensor] = []

        def add(name: str, value: Tensor, weight: float) -> None:
            terms[name] = value
            weighted.append(weight * value)

        if w.adv_weight > 0:
            # each translation judged by its target domain's discriminators, domain A's first
            judged = sorted(sides, key=lambda side: side.target)
            adv = _sum(
                generator_adv_loss(
                    self._judge(self.discriminator(s.target), s.fake.image), w.gan_mode
                )
                for s in judged
            )
            add("g_adv", adv, w.adv_weight)

        has_cam = all(s.fake.cam_logit is not None for s in sides)
        wants_identity = w.identity_weight > 0 or (w.cam_weight > 0 and has_cam)
        # The back generator's second passes (reconstruction, identity) in one call: every norm
        # here is per sample, so the batch changes nothing but the speed.
        back = [
            _run_together(
                self.generator(f"{s.target}2{s.source}"),
                ([s.fake.image] if w.cycle_weight > 0 else [])
                + ([s.real] if wants_identity else []),
                self.batch_generator_calls,
            )
            for s in sides
        ]
        if w.cycle_weight > 0:
            rebuilt = [outputs.pop(0).image for outputs in back]
            cycle = _sum(
                self._reconstruction(r, s.real) for r, s in zip(rebuilt, sides, strict=True)
            )
            add("g_cycle", cycle, w.cycle_weight)
        if wants_identity:
            # the back generator on its own target domain: identity for the images, "not my
            # source" for its CAM classifier
            same = [outputs.pop(0) for outputs in back]
            if w.identity_weight > 0:
                identity = _sum(
                    self._reconstruction(o.image, s.real) for o, s in zip(same, sides, strict=True)
                )
                add("g_identity", identity, w.identity_weight)
            if w.cam_weight > 0 and has_cam and all(o.cam_logit is not None for o in same):
                # each back generator's verdict on its own source (the other side's fake; a
                # side alone pairs its own fake instead: the same four terms in the sum)
                sources = [
                    s.fake.cam_logit for s in (reversed(sides) if len(sides) == 2 else sides)
                ]
                cam = _sum(
                    generator_cam_loss(v, o.cam_logit) for v, o in zip(sources, same, strict=True)
                )
                add("g_cam", cam, w.cam_weight)

        total = torch.stack(weighted).sum()
        terms["g_total"] = total
        return total, terms

    def _reconstruction(self, output: Tensor, target: Tensor) -> Tensor:
        return reconstruction_l1(output, target, self.loss_settings.cycle_colour)

    # ------------------------------------------------------------------ validation
    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        """Reconstruction and identity error on the fixed validation images (a cheap objective)."""
        real_a, real_b = batch["a"], batch["b"]
        outputs = self.translate_all(real_a, real_b)
        cycle = (l1(outputs["rec_a"], real_a) + l1(outputs["rec_b"], real_b)) / 2
        identity = (l1(outputs["id_a"], real_a) + l1(outputs["id_b"], real_b)) / 2
        self.log("val/cycle_l1", cycle, prog_bar=True, batch_size=real_a.shape[0], sync_dist=True)
        self.log("val/identity_l1", identity, batch_size=real_a.shape[0], sync_dist=True)

    @torch.no_grad()
    def translate_all(self, real_a: Tensor, real_b: Tensor) -> dict[str, Tensor | None]:
        """Translations, reconstructions, identities and heatmaps for sample grids and validation."""
        g_ab, g_ba = self.output_generator("a2b"), self.output_generator("b2a")
        fake_b = g_ab(real_a)
        fake_a = g_ba(real_b)
        return {
            "real_a": real_a,
            "real_b": real_b,
            "fake_b": fake_b.image,
            "fake_a": fake_a.image,
            "heatmap_ab": fake_b.heatmap,
            "heatmap_ba": fake_a.heatmap,
            "rec_a": g_ba(fake_b.image).image,
            "rec_b": g_ab(fake_a.image).image,
            "id_a": g_ba(real_a).image,
            "id_b": g_ab(real_b).image,
        }

    @torch.no_grad()
    def visuals(self, real_a: Tensor, real_b: Tensor) -> dict[str, list[Visual]]:
        """Sample-grid rows per direction, every column from the same input image (as the official
        code's grids): input, identity (the other generator on it), translation, reconstruction."""
        rows = {}
        g = {d: self.output_generator(d) for d in self.directions}
        paths = (("a2b", real_a, g["a2b"], g["b2a"]), ("b2a", real_b, g["b2a"], g["a2b"]))
        for direction, real, forward, backward in paths:
            identity, fake = backward(real), forward(real)
            reconstruction = backward(fake.image)
            rows[direction] = [
                Visual("input", real),
                Visual("identity", identity.image, identity.heatmap),
                Visual("translation", fake.image, fake.heatmap),
                Visual("reconstruction", reconstruction.image, reconstruction.heatmap),
            ]
        return rows

    # ------------------------------------------------------------------ checkpoint state
    def checkpoint_extras(self) -> dict[str, Any]:
        return {"image_pools": {"a": self.pool_a.state_dict(), "b": self.pool_b.state_dict()}}

    def load_checkpoint_extras(self, extras: Mapping[str, Any]) -> None:
        pools = extras.get("image_pools")
        if pools:
            self.pool_a.load_state_dict(pools["a"], self.device)
            self.pool_b.load_state_dict(pools["b"], self.device)
