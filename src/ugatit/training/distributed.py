"""Gradient averaging for multi-process training with two optimizer steps per iteration.

DDP's reducer expects one backward per forward; U-GAT-IT's iteration runs a discriminator and a
generator backward inside one training_step (Lightning's DDP forward), so the module turns the
reducer off and averages exactly the gradients each optimizer is about to use, once per step.
That is all the synchronisation the method needs, and no parameter is ever "unused".
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

BUCKET_BYTES = 64 * 2**20


def take_over_gradient_sync(model: torch.nn.Module) -> bool:
    """Stop DDP from reducing gradients itself; True when ``model`` is DDP-wrapped."""
    if isinstance(model, DistributedDataParallel):
        model.require_backward_grad_sync = False
        return True
    return False


def average_gradients(params: Iterable[Tensor], bucket_bytes: int = BUCKET_BYTES) -> None:
    """All-reduce (mean) the gradients of ``params`` across processes, in flat buckets.

    Every rank runs the same code path, so the set of parameters with a gradient is the same on
    all of them.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    world_size = dist.get_world_size()
    grads = [p.grad for p in params if p.grad is not None]
    bucket: list[Tensor] = []
    size = 0
    for grad in grads:
        bucket.append(grad)
        size += grad.numel() * grad.element_size()
        if size >= bucket_bytes:
            _reduce_bucket(bucket, world_size)
            bucket, size = [], 0
    if bucket:
        _reduce_bucket(bucket, world_size)


def _reduce_bucket(grads: list[Tensor], world_size: int) -> None:
    by_dtype: dict[torch.dtype, list[Tensor]] = {}
    for grad in grads:
        by_dtype.setdefault(grad.dtype, []).append(grad)
    for same_dtype in by_dtype.values():
        flat = torch.cat([g.reshape(-1) for g in same_dtype])
        dist.all_reduce(flat)
        flat.div_(world_size)
        offset = 0
        for grad in same_dtype:
            n = grad.numel()
            grad.copy_(flat[offset : offset + n].view_as(grad))
            offset += n
