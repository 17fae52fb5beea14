"""The one-sided contrastive family: CUT and FastCUT (Park et al., ECCV 2020).

One generator (A->B), one discriminator (domain B) and a patch sampler F. The generator learns
from an adversarial term and PatchNCE: features of its output at sampled positions, passed
through its own encoder and F, must match the features of the input at the same positions
against the other positions of the same image. CUT adds the same NCE between B and G(B)
(identity) and averages the two; FastCUT drops it, weighs NCE 10 and randomly flips the input,
flipping the output's features back (flip-equivariance). Order per iteration, as the official
code: one forward, the discriminator step, then the generator and F together.

Patch positions and flips come from the module's own seeded generator, saved in checkpoints, so
a resumed run draws what the uninterrupted one would have.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ugatit.errors import ConfigError, UserError
from ugatit.nets.cut import PatchSampler
from ugatit.registry import register_method
from ugatit.rules import FLAG, POSITIVE_INT, WEIGHT, Number
from ugatit.training.base import (
    OptimizerSpec,
    Step,
    TranslationMethod,
    build_generator,
    build_network,
    plain,
)
from ugatit.training.discriminator_views import discriminator_view
from ugatit.training.losses import (
    discriminator_adv_loss,
    generator_adv_loss,
    l1,
    patch_nce_loss,
)
from ugatit.training.settings import (
    AdversarialLoss,
    MethodSettings,
    OptimizerSettings,
    ScheduleSettings,
    Settings,
    section,
    setting,
    store_defaults,
)
from ugatit.visualize import Visual


class LayerIndices:
    """The rule of ``model.nce.layers``: a non-empty list of generator layer indices."""

    def describe(self) -> str:
        return "a non-empty list of generator layer indices, e.g. [0,4,8,12,16]"

    def check(self, key: str, value: Any, error: type[UserError] = ConfigError) -> None:
        if (
            not isinstance(value, (list, tuple))
            or not value
            or any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in value)
        ):
            raise error(f"{key}={value!r} is invalid: it must be {self.describe()}.")


@dataclasses.dataclass(frozen=True)
class ContrastiveLoss(AdversarialLoss):
    """CUT's and FastCUT's loss terms (adv_weight is lambda_GAN). Defaults: CUT's paper."""

    nce_weight: float = setting(1.0, WEIGHT, "PatchNCE between input and output (lambda_NCE)")
    nce_identity: bool = setting(True, FLAG, "also NCE(G(B), B), averaged with NCE(G(A), A)")
    flip_equivariance: bool = setting(
        False, FLAG, "FastCUT: flip the input at random and its output's features back"
    )


@dataclasses.dataclass(frozen=True)
class NceSettings(Settings):
    """PatchNCE: which generator layers are compared, how many patches, temperature, F's width."""

    layers: tuple[int, ...] = setting(
        (0, 4, 8, 12, 16), LayerIndices(), "generator layers whose features are compared"
    )
    num_patches: int = setting(256, POSITIVE_INT, "patches sampled per layer")
    temperature: float = setting(0.07, Number(low=0, low_open=True), "the NCE temperature")
    mlp_channels: int = setting(256, POSITIVE_INT, "width of the patch sampler's MLPs")


@dataclasses.dataclass(frozen=True)
class ContrastiveSettings(MethodSettings):
    """CUT's and FastCUT's settings besides the networks; defaults: CUT's paper."""

    loss: ContrastiveLoss = section(ContrastiveLoss, "loss weights", d_loss_scale=0.5)
    nce: NceSettings = section(NceSettings, "PatchNCE")
    optimizer: OptimizerSettings = section(OptimizerSettings, "Adam", lr=2e-4, weight_decay=0.0)
    schedule: ScheduleSettings = section(
        ScheduleSettings, "length and learning-rate decay", max_iterations=None, max_epochs=400
    )


store_defaults("cut", ContrastiveSettings())


@register_method
class ContrastiveTranslation(TranslationMethod):
    """CUT (``loss.nce_identity=true``) and FastCUT (``flip_equivariance=true``, NCE weight 10);
    the keywords besides the networks are :class:`ContrastiveSettings`."""

    directions = ("a2b",)
    Settings = ContrastiveSettings

    def __init__(
        self, generator: Mapping[str, Any], discriminator: Mapping[str, Any], **settings: Any
    ) -> None:
        super().__init__()
        generator, discriminator = plain(generator), plain(discriminator)
        s: ContrastiveSettings = self.setup_common(generator, discriminator, settings)
        self.loss_settings = s.loss
        self.nce_settings = s.nce
        self.generator_ab = build_generator(generator)
        self.discriminator_b: nn.Module = build_network(discriminator, "model.discriminator")
        # what the discriminator judges: the images (the paper) or their figure-ground maps
        self.discriminator_view = discriminator_view(s.discriminator_input)
        # built from the feature shapes up front (the official code waits for the first batch)
        channels = self.generator_ab.feature_channels(self.nce_settings.layers)
        self.patch_sampler = PatchSampler(channels, self.nce_settings.mlp_channels)
        self.add_weight_averages()
        self.sampling = torch.Generator().manual_seed(int(s.seed or 0))  # patch positions, flips

    # ------------------------------------------------------------------ declarations
    def optimizer_specs(self) -> list[OptimizerSpec]:
        s = self.optimizer_settings
        return [
            OptimizerSpec("generator", ("generator_ab",), s.lr),
            OptimizerSpec("discriminator", ("discriminator_b",), s.d_lr or s.lr),
            OptimizerSpec("patch_sampler", ("patch_sampler",), s.lr),
        ]

    @property
    def _uses_identity(self) -> bool:
        w = self.loss_settings
        return w.nce_identity and w.nce_weight > 0

    def forward_pass(self, real_a: Tensor, real_b: Tensor) -> dict[str, Any]:
        """G on A (and on B for the identity NCE) in one call, the input flipped at random for
        FastCUT; the NCE keys are the unflipped inputs, as in the official code."""
        real = torch.cat([real_a, real_b]) if self._uses_identity else real_a
        flipped = bool(
            self.loss_settings.flip_equivariance
            and torch.rand((), generator=self.sampling).item() < 0.5
        )
        if flipped:
            real = torch.flip(real, [3])
        fake = self.generator_ab(real).image
        n = real_a.shape[0]
        return {
            "real_a": real_a,
            "real_b": real_b,
            "fake_b": fake[:n],
            "identity_b": fake[n:] if self._uses_identity else None,
            "flipped": flipped,
        }

    def training_steps(self) -> list[Step]:
        return [
            Step("d", ("discriminator",), self._discriminator_step),
            Step(
                "g", ("generator", "patch_sampler"), self._generator_step, self.after_generator_step
            ),
        ]

    # ------------------------------------------------------------------ losses
    def _discriminator_step(self, state: Mapping[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
        w = self.loss_settings
        d_b = discriminator_adv_loss(
            self._judge(state["real_b"]), self._judge(state["fake_b"].detach()), w.gan_mode
        )
        total = w.d_loss_scale * d_b
        return total, {"d_b": d_b, "d_total": total}

    def _judge(self, images: Tensor) -> Any:
        """The discriminator's verdict on ``images`` through the configured view."""
        return self.discriminator_b(self.discriminator_view(images))

    def _generator_step(self, state: Mapping[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
        w = self.loss_settings
        terms: dict[str, Tensor] = {}
        weighted: list[Tensor] = []
        if w.adv_weight > 0:
            adv = generator_adv_loss(self._judge(state["fake_b"]), w.gan_mode)
            terms["g_adv"] = adv
            weighted.append(w.adv_weight * adv)
        if w.nce_weight > 0:
            nce = self.nce_loss(state["real_a"], state["fake_b"], state["flipped"])
            terms["g_nce"] = nce
            if state["identity_b"] is not None:
                identity = self.nce_loss(state["real_b"], state["identity_b"], state["flipped"])
                terms["g_nce_identity"] = identity
                nce = (nce + identity) / 2
            weighted.append(w.nce_weight * nce)
        total = torch.stack(weighted).sum()
        terms["g_total"] = total
        return total, terms

    def _positions(self, features: Sequence[Tensor]) -> list[Tensor]:
        """The same random positions for queries and keys and every image of the batch."""
        wanted = self.nce_settings.num_patches
        positions = []
        for feature in features:
            count = feature.shape[2] * feature.shape[3]
            positions.append(torch.randperm(count, generator=self.sampling)[: min(wanted, count)])
        return positions

    def nce_loss(self, source: Tensor, output: Tensor, flipped: bool = False) -> Tensor:
        """PatchNCE between ``source`` (keys) and the generator's ``output`` (queries), the mean
        over the configured layers of each layer's mean over patches (unweighted)."""
        layers = self.nce_settings.layers
        queries = self.generator_ab.encode(output, layers)
        if flipped:
            queries = [torch.flip(q, [3]) for q in queries]
        keys = self.generator_ab.encode(source, layers)
        positions = self._positions(keys)
        keys = self.patch_sampler(keys, positions)
        queries = self.patch_sampler(queries, positions)
        batch = source.shape[0]
        losses = [
            patch_nce_loss(q, k, batch, self.nce_settings.temperature).mean()
            for q, k in zip(queries, keys, strict=True)
        ]
        return torch.stack(losses).mean()

    # ------------------------------------------------------------------ validation, visuals
    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        """Identity error G(B) vs B on the fixed validation images (CUT's identity mapping)."""
        real_b = batch["b"]
        with torch.no_grad():
            identity = l1(self.output_generator("a2b")(real_b).image, real_b)
        self.log(
            "val/identity_l1", identity, prog_bar=True, batch_size=real_b.shape[0], sync_dist=True
        )

    @torch.no_grad()
    def visuals(self, real_a: Tensor, real_b: Tensor) -> dict[str, list[Visual]]:
        """One row per A image: input, translation (a one-sided model has no way back)."""
        fake = self.output_generator("a2b")(real_a)
        return {"a2b": [Visual("input", real_a), Visual("translation", fake.image, fake.heatmap)]}

    # ------------------------------------------------------------------ checkpoint state
    def checkpoint_extras(self) -> dict[str, Any]:
        return {"sampling_rng": self.sampling.get_state()}

    def load_checkpoint_extras(self, extras: Mapping[str, Any]) -> None:
        state = extras.get("sampling_rng")
        if state is not None:
            self.sampling.set_state(state)
