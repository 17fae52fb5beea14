"""The one LightningModule: two generators, two discriminator sets, one training step for every method.

Each iteration generates both directions once, trains the discriminators on the detached fakes
(through the image pool when configured), then trains the generators reusing the same fakes, then
runs the generators' post-step hooks (U-GAT-IT's rho clipping). Terms whose weight is 0 or whose
network outputs are None are skipped, so CycleGAN and U-GAT-IT differ only in networks and weights.
"""

from __future__ import annotations

import copy
import itertools
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from ugatit.checkpoints.models import align_average_weights, non_network_targets, refusal
from ugatit.config_checks import MODEL_RULES
from ugatit.errors import ConfigError, UserError
from ugatit.nets.outputs import GeneratorOutput
from ugatit.training.augment import diff_augment, parse_policy
from ugatit.training.distributed import average_gradients, take_over_gradient_sync
from ugatit.training.image_pool import ImagePool
from ugatit.training.losses import (
    discriminator_adv_loss,
    generator_adv_loss,
    generator_cam_loss,
    l1,
)
from ugatit.training.settings import (
    LossSettings,
    OptimizerSettings,
    ScheduleSettings,
    parse_settings,
)
from ugatit.visualize import Visual

log = logging.getLogger(__name__)


class NonFiniteLossError(UserError):
    """Training kept producing NaN/inf losses; the message names the iteration and the terms."""


def _plain(config: Any) -> Any:
    """Hydra hands over DictConfigs; checkpoints should hold plain containers."""
    if isinstance(config, DictConfig):
        return OmegaConf.to_container(config, resolve=True)
    return config


class TranslationModule(pl.LightningModule):
    """Unpaired translation between domains A and B.

    ``generator`` and ``discriminator`` are Hydra configs (``_target_`` + arguments) built twice,
    once per direction/domain, so a checkpoint alone is enough to rebuild the model.
    """

    def __init__(
        self,
        generator: Mapping[str, Any],
        discriminator: Mapping[str, Any],
        loss: Mapping[str, Any] | None = None,
        optimizer: Mapping[str, Any] | None = None,
        schedule: Mapping[str, Any] | None = None,
        pool_size: int = 0,
        seed: int = 0,
        max_nonfinite_steps: int = 10,
        channels_last: bool = False,
        compile: bool = False,
        ema_decay: float = 0.0,
        diff_augment: str | None = None,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        generator, discriminator = _plain(generator), _plain(discriminator)
        loss, optimizer, schedule = _plain(loss), _plain(optimizer), _plain(schedule)
        # logger=False: the entry point logs the whole resolved run config once instead
        self.save_hyperparameters(
            {
                "generator": generator,
                "discriminator": discriminator,
                "loss": loss,
                "optimizer": optimizer,
                "schedule": schedule,
                "pool_size": pool_size,
                "seed": seed,
                "max_nonfinite_steps": max_nonfinite_steps,
                "channels_last": channels_last,
                "compile": compile,
                "ema_decay": ema_decay,
                "diff_augment": diff_augment,
            },
            logger=False,
        )
        self.loss_settings = parse_settings(LossSettings, loss, "loss")
        self.optimizer_settings = parse_settings(OptimizerSettings, optimizer, "optimizer")
        self.schedule_settings = parse_settings(ScheduleSettings, schedule, "schedule")

        # Settings may come from a checkpoint: Hydra must call network classes only.
        unsafe = non_network_targets(generator, "model.generator")
        unsafe += non_network_targets(discriminator, "model.discriminator")
        if unsafe:
            raise ConfigError(f"{refusal(unsafe)}.")
        self.generator_ab: nn.Module = hydra.utils.instantiate(generator)
        self.generator_ba: nn.Module = hydra.utils.instantiate(generator)
        # discriminator_a judges domain A (real A vs G_BA's fakes), discriminator_b domain B.
        self.discriminator_a: nn.Module = hydra.utils.instantiate(discriminator)
        self.discriminator_b: nn.Module = hydra.utils.instantiate(discriminator)

        # Exponential moving averages of the generators' weights, used for every translation the
        # module shows or returns (samples, validation, eval, translate); training uses the live ones.
        MODEL_RULES["model.ema_decay"].check("model.ema_decay", ema_decay)
        self.ema_decay = float(ema_decay)
        self.generator_ab_ema: nn.Module | None = None
        self.generator_ba_ema: nn.Module | None = None
        if self.ema_decay > 0:
            self.generator_ab_ema = copy.deepcopy(self.generator_ab).requires_grad_(False)
            self.generator_ba_ema = copy.deepcopy(self.generator_ba).requires_grad_(False)

        # DiffAugment of every discriminator input, real and fake, in both steps (off: ())
        self.augment_policy = parse_policy(diff_augment)

        self.pool_a = ImagePool(pool_size, seed=seed)
        self.pool_b = ImagePool(pool_size, seed=seed + 1)
        self.iteration = 0  # completed training iterations (batches), saved in checkpoints
        # Non-finite losses: the step is skipped; after this many iterations in a row the run
        # stops with a checkpoint (0 turns the check, and its host synchronisation, off).
        self.max_nonfinite_steps = max_nonfinite_steps
        self.skipped_steps = 0
        self.nonfinite_in_a_row = 0
        self._sync_gradients_by_hand = False
        # True between the first optimizer step of an iteration and its counter update: a
        # checkpoint taken then would not resume exactly (see IterationCheckpoint.on_exception).
        self.inside_iteration = False
        self.channels_last = channels_last
        self.compile_networks = compile

    # ------------------------------------------------------------------ schedule
    @property
    def total_iterations(self) -> int:
        return self.schedule_settings.total_iterations(self.trainer.num_training_batches)

    def lr_factor(self, iteration: int) -> float:
        """1 until ``decay_start`` of training, then linear to 0 at the last iteration."""
        if iteration == 0:
            return 1.0
        total = self.total_iterations
        start = int(self.schedule_settings.decay_start * total)
        if iteration < start:
            return 1.0
        return max(0.0, 1.0 - (iteration - start) / max(1, total - start))

    def configure_optimizers(self):
        s = self.optimizer_settings
        generators = itertools.chain(self.generator_ab.parameters(), self.generator_ba.parameters())
        discriminators = itertools.chain(
            self.discriminator_a.parameters(), self.discriminator_b.parameters()
        )
        opt_g = torch.optim.Adam(generators, lr=s.lr, betas=s.betas, weight_decay=s.weight_decay)
        opt_d = torch.optim.Adam(
            discriminators, lr=s.d_lr or s.lr, betas=s.betas, weight_decay=s.weight_decay
        )
        schedulers = [torch.optim.lr_scheduler.LambdaLR(o, self.lr_factor) for o in (opt_g, opt_d)]
        return [opt_g, opt_d], schedulers

    # ------------------------------------------------------------------ forward
    def forward(self, image: Tensor, direction: str = "a2b") -> GeneratorOutput:
        """Translate ``image`` (in [-1, 1]) A->B (``a2b``) or B->A (``b2a``)."""
        if direction not in ("a2b", "b2a"):
            raise ValueError(f"direction must be 'a2b' or 'b2a', got {direction!r}.")
        return self.output_generators()[direction](image)

    def output_generators(self) -> dict[str, nn.Module]:
        """The generators whose translations are shown and returned: the averaged ones with EMA."""
        if self.generator_ab_ema is not None and self.generator_ba_ema is not None:
            return {"a2b": self.generator_ab_ema, "b2a": self.generator_ba_ema}
        return {"a2b": self.generator_ab, "b2a": self.generator_ba}

    @torch.no_grad()
    def _update_ema(self) -> None:
        """Move the averaged weights toward the live ones (a short warm-up: early weights fade fast)."""
        if self.generator_ab_ema is None or self.generator_ba_ema is None:
            return
        decay = min(self.ema_decay, (1.0 + self.iteration) / (10.0 + self.iteration))
        for live, average in (
            (self.generator_ab, self.generator_ab_ema),
            (self.generator_ba, self.generator_ba_ema),
        ):
            averaged = list(average.parameters())
            torch._foreach_lerp_(averaged, [p.detach() for p in live.parameters()], 1.0 - decay)
            for mine, theirs in zip(average.buffers(), live.buffers(), strict=True):
                mine.copy_(theirs)

    # ------------------------------------------------------------------ speed options
    def setup(self, stage: str) -> None:
        """Optional speed-ups, off by default until measured (src/benchmark.py)."""
        if self.channels_last:
            self.to(memory_format=torch.channels_last)
        if self.compile_networks and stage == "fit":
            for network in self.networks():
                network.compile()  # in place: parameter names (and checkpoints) stay the same

    def networks(self) -> list[nn.Module]:
        return [self.generator_ab, self.generator_ba, self.discriminator_a, self.discriminator_b]

    def _prepare_input(self, image: Tensor) -> Tensor:
        if self.channels_last:
            return image.contiguous(memory_format=torch.channels_last)
        return image

    # ------------------------------------------------------------------ training
    def on_train_start(self) -> None:
        """A run resumed at or past its last scheduled iteration has nothing left to do.

        Without this, Lightning would still run one batch before the end-of-schedule check.
        """
        if self.iteration >= self.total_iterations:
            log.info(
                "The schedule ends at iteration %d and this run is at iteration %d: nothing to "
                "train (raise model.schedule.max_iterations to train longer).",
                self.total_iterations,
                self.iteration,
            )
            self.trainer.should_stop = True

    def _discriminator_loss(
        self, real_a: Tensor, real_b: Tensor, fake_a: Tensor, fake_b: Tensor, detach: bool = True
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """LSGAN (or the configured loss) of both domains' discriminators on real vs fake.

        ``detach=False`` is the official code's ordering (used by the benchmark's reference).
        """
        mode = self.loss_settings.gan_mode
        if detach:
            fake_a, fake_b = fake_a.detach(), fake_b.detach()
        fake_a = self.pool_a.query(fake_a)
        fake_b = self.pool_b.query(fake_b)
        net_a, net_b = self.discriminator_a, self.discriminator_b
        d_a = discriminator_adv_loss(self._judge(net_a, real_a), self._judge(net_a, fake_a), mode)
        d_b = discriminator_adv_loss(self._judge(net_b, real_b), self._judge(net_b, fake_b), mode)
        w = self.loss_settings
        total = w.d_loss_scale * w.adv_weight * (d_a + d_b)
        return total, {"d_a": d_a, "d_b": d_b, "d_total": total}

    def _judge(self, discriminator: nn.Module, images: Tensor) -> Any:
        """The discriminator on ``images``, through DiffAugment when it is on."""
        return discriminator(diff_augment(images, self.augment_policy))

    def _generator_loss(
        self, real_a: Tensor, real_b: Tensor, fake_a: GeneratorOutput, fake_b: GeneratorOutput
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Adversarial, cycle, identity and CAM terms over both directions (skipping zero weights)."""
        w = self.loss_settings
        mode = w.gan_mode
        terms: dict[str, Tensor] = {}
        weighted: list[Tensor] = []

        if w.adv_weight > 0:
            adv = generator_adv_loss(
                self._judge(self.discriminator_a, fake_a.image), mode
            ) + generator_adv_loss(self._judge(self.discriminator_b, fake_b.image), mode)
            terms["g_adv"] = adv
            weighted.append(w.adv_weight * adv)

        if w.cycle_weight > 0:
            rec_a = self.generator_ba(fake_b.image).image
            rec_b = self.generator_ab(fake_a.image).image
            cycle = l1(rec_a, real_a) + l1(rec_b, real_b)
            terms["g_cycle"] = cycle
            weighted.append(w.cycle_weight * cycle)

        has_cam = fake_a.cam_logit is not None and fake_b.cam_logit is not None
        if w.identity_weight > 0 or (w.cam_weight > 0 and has_cam):
            # Each generator applied to its own target domain: identity for images, "not my
            # source" for the CAM classifier.
            id_a = self.generator_ba(real_a)
            id_b = self.generator_ab(real_b)
            if w.identity_weight > 0:
                identity = l1(id_a.image, real_a) + l1(id_b.image, real_b)
                terms["g_identity"] = identity
                weighted.append(w.identity_weight * identity)
            if w.cam_weight > 0 and has_cam:
                cam = generator_cam_loss(fake_a.cam_logit, id_a.cam_logit) + generator_cam_loss(
                    fake_b.cam_logit, id_b.cam_logit
                )
                terms["g_cam"] = cam
                weighted.append(w.cam_weight * cam)

        total = torch.stack(weighted).sum()
        terms["g_total"] = total
        return total, terms

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        real_a, real_b = self._prepare_input(batch["a"]), self._prepare_input(batch["b"])
        opt_g, opt_d = self.optimizers()
        # Two backward passes inside one DDP forward: DDP's reducer is switched off for this
        # step (Lightning re-arms it after every forward) and each optimizer's gradients are
        # averaged just before its step.
        self._sync_gradients_by_hand = take_over_gradient_sync(self.trainer.model)

        fake_b = self.generator_ab(real_a)
        fake_a = self.generator_ba(real_b)

        self.inside_iteration = True
        self.toggle_optimizer(opt_d)
        d_loss, d_terms = self._discriminator_loss(real_a, real_b, fake_a.image, fake_b.image)
        d_finite = self._optimizer_step(opt_d, d_loss)
        self.untoggle_optimizer(opt_d)

        self.toggle_optimizer(opt_g)
        g_loss, g_terms = self._generator_loss(real_a, real_b, fake_a, fake_b)
        g_finite = self._optimizer_step(opt_g, g_loss)
        self.untoggle_optimizer(opt_g)
        self._after_generator_step()
        self._finish_iteration(opt_g, opt_d, {**g_terms, **d_terms}, d_finite and g_finite)

    def _finish_iteration(
        self, opt_g: Any, opt_d: Any, terms: Mapping[str, Tensor], finite: bool
    ) -> None:
        """Advance the schedule and the counters, log, and stop at the end of the schedule."""
        for scheduler in self.lr_schedulers():
            scheduler.step()
        self.iteration += 1
        self.inside_iteration = False
        self._count_nonfinite(finite, terms)

        self.log_dict({f"train/{k}": v.detach() for k, v in terms.items()})
        self.log("lr/generator", opt_g.param_groups[0]["lr"])
        self.log("lr/discriminator", opt_d.param_groups[0]["lr"])
        self.log("train/iteration", float(self.iteration))
        self.log("train/skipped_steps", float(self.skipped_steps))
        self.log("it", float(self.iteration), prog_bar=True, logger=False)
        self.log("g", terms["g_total"].detach(), prog_bar=True, logger=False)
        self.log("d", terms["d_total"].detach(), prog_bar=True, logger=False)
        if self.iteration >= self.total_iterations:
            self.trainer.should_stop = True

    def _after_generator_step(self) -> None:
        """Post-step hooks of the generators (U-GAT-IT: clip rho to [0, 1]), then the EMA update."""
        for generator in (self.generator_ab, self.generator_ba):
            hook = getattr(generator, "after_optimizer_step", None)
            if hook is not None:
                hook()
        self._update_ema()

    def _optimizer_step(self, optimizer: Any, loss: Tensor) -> bool:
        """Backward and step unless the loss is not finite on some rank (then all ranks skip)."""
        optimizer.zero_grad(set_to_none=True)
        if self.max_nonfinite_steps > 0:
            finite = torch.isfinite(loss.detach()).float()
            if self.trainer.world_size > 1:
                finite = self.trainer.strategy.reduce(finite, reduce_op="min")
            if finite.item() < 1.0:
                return False
        self.manual_backward(loss)
        if self._sync_gradients_by_hand:
            average_gradients(p for group in optimizer.param_groups for p in group["params"])
        optimizer.step()
        return True

    def _count_nonfinite(self, finite: bool, terms: Mapping[str, Tensor]) -> None:
        """Count skipped steps; after ``max_nonfinite_steps`` in a row save and stop, clearly."""
        if finite:
            self.nonfinite_in_a_row = 0
            return
        self.skipped_steps += 1
        self.nonfinite_in_a_row += 1
        bad = [f"train/{k}" for k, v in terms.items() if not torch.isfinite(v.detach()).all()]
        log.warning(
            "Iteration %d: non-finite loss (%s); step skipped.", self.iteration, ", ".join(bad)
        )
        if self.nonfinite_in_a_row >= self.max_nonfinite_steps:
            path = self._emergency_checkpoint(f"nonfinite_iter_{self.iteration:07d}.ckpt")
            raise NonFiniteLossError(
                f"Training stopped at iteration {self.iteration}: the loss was not finite for "
                f"{self.nonfinite_in_a_row} iterations in a row (terms: {', '.join(bad)}); those "
                f"steps were skipped, so the weights are still finite. Checkpoint: {path}. "
                "Lower the learning rate (model.optimizer.lr) or the weight of the named term "
                "(e.g. model.loss.cam_weight on small data sets), then resume with ckpt_path=..."
            )

    def _emergency_checkpoint(self, name: str) -> Path:
        callback = self.trainer.checkpoint_callback
        folder = Path(callback.dirpath) if getattr(callback, "dirpath", None) else None
        folder = folder or Path(self.trainer.default_root_dir) / "checkpoints"
        path = folder / name
        self.trainer.save_checkpoint(path)
        return path

    # ------------------------------------------------------------------ validation
    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        """Reconstruction and identity error on the fixed validation images (a cheap objective)."""
        real_a, real_b = batch["a"], batch["b"]
        outputs = self.translate_all(real_a, real_b)
        cycle = (l1(outputs["rec_a"], real_a) + l1(outputs["rec_b"], real_b)) / 2
        identity = (l1(outputs["id_a"], real_a) + l1(outputs["id_b"], real_b)) / 2
        self.log("val/cycle_l1", cycle, prog_bar=True, batch_size=real_a.shape[0])
        self.log("val/identity_l1", identity, batch_size=real_a.shape[0])

    @torch.no_grad()
    def translate_all(self, real_a: Tensor, real_b: Tensor) -> dict[str, Tensor | None]:
        """Translations, reconstructions, identities and heatmaps for sample grids and validation."""
        generators = self.output_generators()
        g_ab, g_ba = generators["a2b"], generators["b2a"]
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
        g = self.output_generators()
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
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["iteration"] = self.iteration
        checkpoint["skipped_steps"] = self.skipped_steps
        checkpoint["image_pools"] = {"a": self.pool_a.state_dict(), "b": self.pool_b.state_dict()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # runs before Lightning loads the weights: a checkpoint with or without a weight average
        # fits a run without or with one
        align_average_weights(checkpoint["state_dict"], self.state_dict().keys())
        self.iteration = int(checkpoint.get("iteration", 0))
        self.skipped_steps = int(checkpoint.get("skipped_steps", 0))
        pools = checkpoint.get("image_pools")
        if pools:
            self.pool_a.load_state_dict(pools["a"], self.device)
            self.pool_b.load_state_dict(pools["b"], self.device)
