"""The one training loop every method runs: a method declares, the base executes.

A method (a subclass of :class:`TranslationMethod`) declares its networks, its directions
(``("a2b", "b2a")`` or ``("a2b",)``), its optimizers (:class:`OptimizerSpec`), the shared forward
pass of an iteration and its steps in order (:class:`Step`: which loss, which optimizers), and
its visuals. The base owns what every method shares: building the optimizers and the schedule in
iterations, the non-finite guard, DDP gradient hand-over, the iteration counter, the weight
average of the generators, checkpoint extras and the logging of whatever terms a step returns.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from ugatit import registry
from ugatit.checkpoints.methods import METHOD_KEY
from ugatit.checkpoints.models import align_average_weights
from ugatit.directions import DIRECTIONS, GENERATOR_NAMES, check_direction
from ugatit.errors import ConfigError, UserError
from ugatit.nets.base import Generator
from ugatit.nets.outputs import GeneratorOutput
from ugatit.training.distributed import average_gradients, take_over_gradient_sync
from ugatit.training.settings import MethodSettings
from ugatit.training.two_threads import run_pair
from ugatit.visualize import Visual

log = logging.getLogger(__name__)


class _PendingCheck:
    """One iteration's non-finite counts on their way to the host: copied without blocking; read
    (waiting for that copy alone) when the host acts on them."""

    def __init__(self, iteration: int, names: list[str], tensors: list[Tensor]) -> None:
        self.iteration, self.names = iteration, names
        device = tensors[0].device
        if device.type == "cuda":
            self.copies = [t.to("cpu", non_blocking=True) for t in tensors]
            self.event = torch.cuda.Event()
            self.event.record()
        else:
            self.copies, self.event = tensors, None

    def values(self) -> tuple[int, int, list[bool]]:
        if self.event is not None:
            self.event.synchronize()
        bad, in_a_row, term_ok = self.copies
        return int(bad), int(in_a_row), [bool(ok) for ok in term_ok]


class NonFiniteLossError(UserError):
    """Training kept producing NaN/inf losses; the message names the iteration and the terms."""


class DirectionError(UserError, ValueError):
    """A direction the model does not have (e.g. b2a on a one-sided CUT model)."""


def plain(config: Any) -> Any:
    """Hydra hands over DictConfigs; checkpoints should hold plain containers."""
    if isinstance(config, DictConfig):
        return OmegaConf.to_container(config, resolve=True)
    return config


def build_network(config: Mapping[str, Any], where: str) -> nn.Module:
    """Build a registered network from its config (``_target_`` + keywords, each checked):
    settings may come from a checkpoint anyone wrote (``ugatit.registry``)."""
    return registry.build_network(config, where)


def check_model_config(model: Mapping[str, Any]) -> None:
    """The composed ``model`` section judged exactly as building it would judge it (the method's
    ``Settings``, the networks' registered rules), but before anything is built or written."""
    model = plain(model)
    if not isinstance(model, Mapping):
        raise ConfigError(f"model={model!r} is not a model config; choose one, e.g. model=ugatit.")
    cls = registry.method_class(model.get(registry.TARGET), "model._target_")
    settings = {k: v for k, v in model.items() if not registry.is_directive(k)}
    for name in ("generator", "discriminator"):
        registry.check_network(settings.pop(name, None), f"model.{name}")
    cls.Settings.parse(settings, "model")


def build_generator(config: Mapping[str, Any], where: str = "model.generator") -> Generator:
    """A network that declares what the loop and its callers need (``ugatit.nets.base``)."""
    network = build_network(config, where)
    if not isinstance(network, Generator):
        raise ConfigError(
            f"{where}._target_={config.get('_target_')!r} is not a ugatit.nets.base.Generator: "
            "derive the class from it, which declares its input size, post-step hook and "
            "encoder features to the training loop, translate and export."
        )
    return network


def _total(loss: Tensor | Sequence[Tensor]) -> Tensor:
    """A step's loss, or the sum of its independent parts, detached (for checks and logs)."""
    if isinstance(loss, Tensor):
        return loss.detach()
    return torch.stack([part.detach() for part in loss]).sum()


def _fused_adam_available(params: Sequence[Tensor]) -> bool:
    """Fused Adam on GPUs: one kernel per step, and it skips a non-finite step on the device
    (``found_inf``) where the default implementation needs the host to decide. On a CPU the
    default (foreach) implementation stays: the host check costs nothing there, and its
    arithmetic is the one this project's training figures were recorded with (fused Adam rounds
    differently, which a GAN amplifies to several grey levels within a few iterations)."""
    return bool(params) and all(p.device.type == "cuda" and p.is_floating_point() for p in params)


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """One Adam optimizer: its name (``lr/<name>`` in the logs), the networks it updates (module
    attribute names) and its learning rate."""

    name: str
    networks: tuple[str, ...]
    lr: float


@dataclasses.dataclass(frozen=True)
class Step:
    """One update of an iteration: ``loss(state) -> (total, terms)`` minimised by the named
    optimizers together; ``after`` runs once they have stepped. ``name`` labels the total on the
    progress bar. ``total`` may be a list of independent parts (graphs that share only leaves):
    each is then back-propagated on its own, the two of a pair side by side on a CPU
    (:meth:`TranslationMethod.run_pair`)."""

    name: str
    optimizers: tuple[str, ...]
    loss: Callable[[dict[str, Any]], tuple[Tensor, dict[str, Tensor]]]
    after: Callable[[], None] | None = None


class TranslationMethod(pl.LightningModule):
    """Base of every method. Subclasses build their networks in ``__init__`` (after calling
    :meth:`setup_common`) and implement the declarations below."""

    directions: tuple[str, ...] = DIRECTIONS
    # the method's typed settings: every keyword of its constructor but the networks
    Settings: type[MethodSettings] = MethodSettings

    # ================================================================ declarations
    def optimizer_specs(self) -> list[OptimizerSpec]:
        raise NotImplementedError

    def forward_pass(self, real_a: Tensor, real_b: Tensor) -> dict[str, Any]:
        """What the steps of one iteration share (e.g. the translations, computed once)."""
        raise NotImplementedError

    def training_steps(self) -> list[Step]:
        raise NotImplementedError

    def visuals(self, real_a: Tensor, real_b: Tensor) -> dict[str, list[Visual]]:
        """Sample-grid rows per direction; every column of a row shows the same input image."""
        raise NotImplementedError

    def checkpoint_extras(self) -> dict[str, Any]:
        """Method state beyond the weights that an exact resume needs (e.g. image pools)."""
        return {}

    def load_checkpoint_extras(self, extras: Mapping[str, Any]) -> None:
        """Restore what :meth:`checkpoint_extras` saved."""

    # ================================================================ shared set-up
    def setup_common(
        self,
        generator: Mapping[str, Any],
        discriminator: Mapping[str, Any],
        settings: Mapping[str, Any],
    ) -> Any:
        """Parse ``settings`` by the method's ``Settings`` class (every value checked by its
        rule), save what a checkpoint needs to rebuild the model, set up what the base owns;
        returns the parsed settings."""
        parsed = self.Settings.parse(settings, "model")
        self.settings = parsed
        self.automatic_optimization = False
        # logger=False: the entry point logs the whole resolved run config once instead
        # plain containers: a checkpoint must load with weights_only=True
        hyper_parameters = {"generator": plain(generator), "discriminator": plain(discriminator)}
        self.save_hyperparameters({**hyper_parameters, **parsed.to_config()}, logger=False)
        self.optimizer_settings = parsed.optimizer
        self.schedule_settings = parsed.schedule
        self.ema_decay = float(parsed.ema_decay)
        self.iteration = 0  # completed training iterations (batches), saved in checkpoints
        # Non-finite losses: the step is skipped; after this many iterations in a row the run
        # stops with a checkpoint (0 turns the check, and its host synchronisation, off).
        self.max_nonfinite_steps = parsed.max_nonfinite_steps
        # counted on the device the losses live on, read by the host only when a CPU makes that
        # free or one iteration later (a GPU's queue is never stalled by the check)
        self._skipped = torch.zeros((), dtype=torch.long)
        self._in_a_row = torch.zeros((), dtype=torch.long)
        self._pending_check: _PendingCheck | None = None
        self._sync_gradients_by_hand = False
        # True between the first optimizer step of an iteration and its counter update: a
        # checkpoint taken then would not resume exactly (see IterationCheckpoint.on_exception).
        self.inside_iteration = False
        self.channels_last = parsed.channels_last
        self.compile_networks = parsed.compile
        # run_pair's two halves in two threads on a CPU (model.parallel_directions: a method
        # with two independent halves sets it)
        self.parallel_directions = False
        return parsed

    def add_weight_averages(self) -> None:
        """Exponential moving averages of the generators' weights (``model.ema_decay`` > 0), used
        for every translation the module shows or returns; training uses the live ones."""
        for direction in self.directions:
            name = GENERATOR_NAMES[direction]
            average = None
            if self.ema_decay > 0:
                average = copy.deepcopy(getattr(self, name)).requires_grad_(False)
            setattr(self, f"{name}_ema", average)

    # ================================================================ generators
    def generator(self, direction: str) -> Generator:
        """The live (trained) generator of ``direction``."""
        return getattr(self, GENERATOR_NAMES[self.check_direction(direction)])

    def output_generator(self, direction: str) -> Generator:
        """The generator whose translations are shown and returned: the average with EMA."""
        name = GENERATOR_NAMES[self.check_direction(direction)]
        average = getattr(self, f"{name}_ema", None)
        return average if average is not None else getattr(self, name)

    def discriminator(self, domain: str) -> nn.Module:
        """The discriminator set that judges images of ``domain`` (``a`` or ``b``)."""
        network = getattr(self, f"discriminator_{domain}", None) if domain in "ab" else None
        if not domain or network is None:
            judged = [d for d in "ab" if getattr(self, f"discriminator_{d}", None) is not None]
            raise DirectionError(
                f"This {type(self).__name__} model has no discriminator for domain {domain!r}; "
                f"it has one for {', '.join(judged)}."
            )
        return network

    def generators(self) -> list[Generator]:
        return [self.generator(d) for d in self.directions]

    def check_direction(self, direction: str) -> str:
        check_direction(direction, DirectionError)
        if direction not in self.directions:
            raise DirectionError(
                f"This {type(self).__name__} model translates {', '.join(self.directions)} only "
                f"(a one-sided method has no {direction} generator); use "
                f"direction={self.directions[0]}."
            )
        return direction

    def forward(self, image: Tensor, direction: str = "a2b") -> GeneratorOutput:
        """Translate ``image`` (in [-1, 1]) A->B (``a2b``) or B->A (``b2a``); the image takes the
        weights' dtype (a run in 64-true or bf16-true precision gets float32 images)."""
        return self.output_generator(direction)(image.to(self.dtype))

    @torch.no_grad()
    def _update_weight_averages(self) -> None:
        """Move the averaged weights toward the live ones (a short warm-up: early weights fade fast)."""
        if self.ema_decay <= 0:
            return
        decay = min(self.ema_decay, (1.0 + self.iteration) / (10.0 + self.iteration))
        for direction in self.directions:
            live, average = self.generator(direction), self.output_generator(direction)
            averaged = list(average.parameters())
            torch._foreach_lerp_(averaged, [p.detach() for p in live.parameters()], 1.0 - decay)
            for mine, theirs in zip(average.buffers(), live.buffers(), strict=True):
                mine.copy_(theirs)

    def after_generator_step(self) -> None:
        """The generators' post-step hooks (U-GAT-IT: clip rho to [0, 1]), then the EMA update."""
        for generator in self.generators():
            generator.after_optimizer_step()
        self._update_weight_averages()

    # ================================================================ schedule, optimizers
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
        specs = self.optimizer_specs()
        self._optimizer_names = [spec.name for spec in specs]
        optimizers = []
        for spec in specs:
            params = [p for name in spec.networks for p in getattr(self, name).parameters()]
            optimizers.append(
                torch.optim.Adam(
                    params,
                    lr=spec.lr,
                    betas=s.betas,
                    weight_decay=s.weight_decay,
                    fused=_fused_adam_available(params),
                )
            )
        schedulers = [torch.optim.lr_scheduler.LambdaLR(o, self.lr_factor) for o in optimizers]
        return optimizers, schedulers

    def _named_optimizers(self) -> dict[str, Any]:
        optimizers = self.optimizers()
        if not isinstance(optimizers, (list, tuple)):
            optimizers = [optimizers]
        names = getattr(self, "_optimizer_names", None) or [s.name for s in self.optimizer_specs()]
        return dict(zip(names, optimizers, strict=True))

    # ================================================================ speed options
    def setup(self, stage: str) -> None:
        """Optional speed-ups, off by default until measured (src/benchmark.py)."""
        if self.channels_last:
            self.to(memory_format=torch.channels_last)
        if self.compile_networks and stage == "fit":
            for spec in self.optimizer_specs():
                for name in spec.networks:
                    getattr(self, name).compile()  # in place: parameter names stay the same

    def networks(self) -> list[nn.Module]:
        """Every trained network, in the order of the optimizers."""
        return [getattr(self, n) for spec in self.optimizer_specs() for n in spec.networks]

    def run_pair(self, first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
        """``(first(), second())``: at once with :attr:`parallel_directions` on a CPU, where one thread
        cannot keep two cores busy with small operations; one after the other elsewhere."""
        return run_pair(first, second, self.parallel_directions and self.device.type == "cpu")

    def prepare_input(self, image: Tensor) -> Tensor:
        if self.channels_last:
            return image.contiguous(memory_format=torch.channels_last)
        return image

    # ================================================================ the loop
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

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        real_a, real_b = self.prepare_input(batch["a"]), self.prepare_input(batch["b"])
        optimizers = self._named_optimizers()
        # Several backward passes inside one DDP forward: DDP's reducer is switched off for
        # this step (Lightning re-arms it after every forward) and each optimizer's gradients
        # are averaged just before its step.
        self._sync_gradients_by_hand = take_over_gradient_sync(self.trainer.model)
        state = self.forward_pass(real_a, real_b)
        self.inside_iteration = True
        terms: dict[str, Tensor] = {}
        totals: dict[str, Tensor] = {}
        finite: Tensor | None = None
        for step in self.training_steps():
            stepped = [optimizers[name] for name in step.optimizers]
            with self._only_training(stepped):
                loss, step_terms = step.loss(state)
                step_finite = self._optimizer_step(stepped, loss)
                if step_finite is not None:
                    finite = step_finite if finite is None else finite & step_finite
            if step.after is not None:
                step.after()
            terms.update(step_terms)
            totals[step.name] = _total(loss)
        self._finish_iteration(optimizers, terms, totals, finite)

    @contextlib.contextmanager
    def _only_training(self, optimizers: Sequence[Any]) -> Iterator[None]:
        """Gradients on for the parameters of ``optimizers`` only, then back: Lightning's
        toggle_optimizer for a step that updates several optimizers together."""
        stepped = {id(p) for o in optimizers for g in o.param_groups for p in g["params"]}
        switched = [
            p
            for o in self._named_optimizers().values()
            for g in o.param_groups
            for p in g["params"]
            if id(p) not in stepped and p.requires_grad
        ]
        for p in switched:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in switched:
                p.requires_grad_(True)

    def _optimizer_step(
        self, optimizers: Sequence[Any], loss: Tensor | Sequence[Tensor]
    ) -> Tensor | None:
        """Backward and step; where the loss is not finite on some rank, every rank skips the
        update. The skip happens on the device (fused Adam's ``found_inf``): no host
        synchronisation. Returns the finiteness flag (None with the check off). ``loss`` may be
        a list of independent parts (see :class:`Step`)."""
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        finite = None
        if self.max_nonfinite_steps > 0:
            finite = torch.isfinite(_total(loss))
            if self.trainer.world_size > 1:
                finite = self.trainer.strategy.reduce(finite.float(), reduce_op="min") > 0
        if isinstance(loss, Tensor):
            self.manual_backward(loss)
        else:
            self._backward_parts(list(loss))
        for optimizer in optimizers:
            if self._sync_gradients_by_hand:
                average_gradients(p for group in optimizer.param_groups for p in group["params"])
            self._step_unless(optimizer, finite)
        return finite

    def _backward_parts(self, parts: list[Tensor]) -> None:
        """:meth:`manual_backward` of the parts' sum, with each part back-propagated on its own
        (a pair side by side on a CPU): Lightning's hooks and loss scaling as for the sum."""
        strategy = self.trainer.strategy
        precision = strategy.precision_plugin
        total = _total(parts)
        strategy.pre_backward(total)
        precision.pre_backward(total, self)  # the on_before_backward hooks, once
        scaler = getattr(precision, "scaler", None)
        if scaler is not None:
            parts = [scaler.scale(part) for part in parts]
        backwards = [lambda part=part: torch.autograd.backward(part) for part in parts]
        if len(backwards) == 2:
            self.run_pair(*backwards)
        else:
            for backward in backwards:
                backward()
        precision.post_backward(total, self)  # the on_after_backward hooks, once
        strategy.post_backward(total)

    @staticmethod
    def _step_unless(optimizer: Any, finite: Tensor | None) -> None:
        """``optimizer.step()``, skipped (parameters and moments untouched) where not ``finite``."""
        inner = getattr(optimizer, "optimizer", optimizer)  # Lightning wraps the torch optimizer
        if finite is None:
            optimizer.step()
        elif inner.defaults.get("fused"):
            inner.found_inf = (~finite).float()
            try:
                optimizer.step()
            finally:
                # under 16-mixed the GradScaler puts its own found_inf in place (non-finite
                # gradients, which a non-finite loss gives too) and removes it after the step
                vars(inner).pop("found_inf", None)
        elif bool(finite):  # an optimizer without fused Adam: the host decides (synchronises)
            optimizer.step()

    def _finish_iteration(
        self,
        optimizers: Mapping[str, Any],
        terms: Mapping[str, Tensor],
        totals: Mapping[str, Tensor],
        finite: Tensor | None,
    ) -> None:
        """Advance the schedule and the counters, log, and stop at the end of the schedule."""
        for scheduler in self.lr_schedulers():
            scheduler.step()
        self.iteration += 1
        self.inside_iteration = False
        if finite is not None:
            self._count_nonfinite(finite, terms)

        # tensors go to the loggers, which read them at their own interval; the progress bar
        # reads what it is given at every refresh, so it gets plain numbers, now and then
        self.log_dict({f"train/{k}": v.detach() for k, v in terms.items()})
        for name, optimizer in optimizers.items():
            self.log(f"lr/{name}", optimizer.param_groups[0]["lr"])
        self.log("train/iteration", float(self.iteration))
        self.log("train/skipped_steps", self._skipped.float())
        interval = max(1, int(getattr(self.trainer, "log_every_n_steps", 1) or 1))
        if self.iteration % interval == 0 or self.iteration >= self.total_iterations:
            for name, total in totals.items():
                self.log(name, float(total.detach()), prog_bar=True, logger=False)
        if self.iteration >= self.total_iterations:
            self.trainer.should_stop = True

    @property
    def skipped_steps(self) -> int:
        """Iterations whose update was skipped for a non-finite loss (reads the device counter)."""
        return int(self._skipped)

    @skipped_steps.setter
    def skipped_steps(self, value: int) -> None:
        self._skipped = torch.tensor(int(value), dtype=torch.long, device=self._skipped.device)

    def _count_nonfinite(self, finite: Tensor, terms: Mapping[str, Tensor]) -> None:
        """Count skipped steps on the device. The host looks at the counts of this iteration at
        once on a CPU (free there), and one iteration late elsewhere (copied without blocking,
        so the queue keeps running): it warns, and after ``max_nonfinite_steps`` in a row it
        saves and stops, clearly."""
        device = finite.device
        bad = (~finite).long()
        self._skipped = self._skipped.to(device) + bad
        self._in_a_row = (self._in_a_row.to(device) + 1) * bad
        names = list(terms)
        term_ok = torch.stack([torch.isfinite(v.detach()).all() for v in terms.values()])
        check = _PendingCheck(self.iteration, names, [bad, self._in_a_row, term_ok])
        if device.type == "cpu":
            self._act_on(check)
            return
        previous, self._pending_check = self._pending_check, check
        if previous is not None:
            self._act_on(previous)

    def _act_on(self, check: _PendingCheck) -> None:
        bad, in_a_row, term_ok = check.values()
        if not bad:
            return
        failed = [f"train/{n}" for n, ok in zip(check.names, term_ok, strict=True) if not ok]
        log.warning(
            "Iteration %d: non-finite loss (%s); step skipped.", check.iteration, ", ".join(failed)
        )
        if in_a_row >= self.max_nonfinite_steps:
            path = self._emergency_checkpoint(f"nonfinite_iter_{self.iteration:07d}.ckpt")
            raise NonFiniteLossError(
                f"Training stopped at iteration {self.iteration}: the loss was not finite for "
                f"{int(in_a_row)} iterations in a row (terms: {', '.join(failed)}); those "
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

    # ================================================================ checkpoint state
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[METHOD_KEY] = registry.qualified_name(type(self))
        checkpoint["iteration"] = self.iteration
        checkpoint["skipped_steps"] = self.skipped_steps
        checkpoint.update(self.checkpoint_extras())

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # runs before Lightning loads the weights: a checkpoint with or without a weight average
        # fits a run without or with one
        align_average_weights(checkpoint["state_dict"], self.state_dict().keys())
        self.iteration = int(checkpoint.get("iteration", 0))
        self.skipped_steps = int(checkpoint.get("skipped_steps", 0))
        self.load_checkpoint_extras(checkpoint)
