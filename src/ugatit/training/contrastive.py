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

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ugatit.nets.cut import PatchSampler
from ugatit.registry import register_method
from ugatit.training.base import (
    OptimizerSpec,
    Step,
    TranslationMethod,
    build_generator,
    build_network,
    plain,
)
from ugatit.training.discriminator_views import discriminator_view
from ugatit.training.losses import discriminator_adv_loss, generator_adv_loss, l1, patch_nce_loss
from ugatit.training.settings import ContrastiveLossSettings, NceSettings, parse_settings
from ugatit.visualize import Visual


@register_method
class ContrastiveTranslation(TranslationMethod):
    """CUT (``loss.nce_identity=true``) and FastCUT (``flip_equivariance=true``, NCE weight 10)."""

    directions = ("a2b",)

    def __init__(
        self,
        generator: Mapping[str, Any],
        discriminator: Mapping[str, Any],
        loss: Mapping[str, Any] | None = None,
        nce: Mapping[str, Any] | None = None,
        optimizer: Mapping[str, Any] | None = None,
        schedule: Mapping[str, Any] | None = None,
        seed: int = 0,
        max_nonfinite_steps: int = 10,
        channels_last: bool = False,
        compile: bool = False,
        ema_decay: float = 0.0,
        discriminator_input: str = "image",
    ) -> None:
        super().__init__()
        generator, discriminator = plain(generator), plain(discriminator)
        loss, nce = plain(loss), plain(nce)
        optimizer, schedule = plain(optimizer), plain(schedule)
        self.setup_common(
            {
                "generator": generator,
                "discriminator": discriminator,
                "loss": loss,
                "nce": nce,
                "optimizer": optimizer,
                "schedule": schedule,
                "seed": seed,
                "max_nonfinite_steps": max_nonfinite_steps,
                "channels_last": channels_last,
                "compile": compile,
                "ema_decay": ema_decay,
                "discriminator_input": discriminator_input,
            },
            optimizer,
            schedule,
            max_nonfinite_steps,
            channels_last,
            compile,
            ema_decay,
        )
        self.loss_settings = parse_settings(ContrastiveLossSettings, loss, "loss")
        self.nce_settings = parse_settings(NceSettings, nce, "nce")
        self.generator_ab = build_generator(generator)
        self.discriminator_b: nn.Module = build_network(discriminator, "model.discriminator")
        # what the discriminator judges: the images (the paper) or their figure-ground maps
        self.discriminator_view = discriminator_view(discriminator_input)
        # built from the feature shapes up front (the official code waits for the first batch)
        channels = self.generator_ab.feature_channels(self.nce_settings.layers)
        self.patch_sampler = PatchSampler(channels, self.nce_settings.mlp_channels)
        self.add_weight_averages()
        self.sampling = torch.Generator().manual_seed(int(seed))  # patch positions, flips

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
