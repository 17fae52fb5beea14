"""Two independent pieces of work of one training step, run at once on a CPU.

At the quick start's size (64 px, 16 channels) a CPU step is a long chain of small operations:
a second intra-op thread makes it only ~1.2x faster, because most of the time goes to launching
operations, not to the arithmetic inside them. The two directions of a two-sided method are
independent within each half of a step (each discriminator's loss, each source domain's
generator chain), so one runs in the calling thread and the other in a helper thread, each with
half the intra-op threads. PyTorch releases the GIL inside every operation and for the whole
backward pass, so the two halves really overlap.

With one intra-op thread per half, the result is bit for bit that of running the two halves one
after the other with one thread: the split changes when work runs, not what it computes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")
U = TypeVar("U")

_helper: ThreadPoolExecutor | None = None
_helper_lock = threading.Lock()


def _helper_thread() -> ThreadPoolExecutor:
    """The process's one helper thread, started on first use."""
    global _helper
    with _helper_lock:
        if _helper is None:
            _helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="two-threads")
        return _helper


def _forget_helper_in_child() -> None:
    """A forked process (a dataloader worker, a forked DDP rank) inherits the executor but not
    its thread: it starts its own on first use instead of waiting on one that is not there."""
    global _helper, _helper_lock
    _helper, _helper_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_helper_in_child)


def threads_per_half(total: int | None = None) -> int:
    """Intra-op threads each half gets: half of the process's (at least one)."""
    return max(1, (torch.get_num_threads() if total is None else total) // 2)


def _in_callers_context(work: Callable[[], T], threads: int) -> Callable[[], T]:
    """``work`` wrapped to run in another thread as it would in this one: the same grad mode and
    CPU autocast (both are per thread), with ``threads`` intra-op threads."""
    grad_enabled = torch.is_grad_enabled()
    autocast = torch.is_autocast_enabled("cpu")
    autocast_dtype = torch.get_autocast_dtype("cpu")

    def run() -> T:
        torch.set_num_threads(threads)
        with (
            torch.set_grad_enabled(grad_enabled),
            torch.autocast("cpu", dtype=autocast_dtype, enabled=autocast),
        ):
            return work()

    return run


def run_pair(first: Callable[[], T], second: Callable[[], U], in_two_threads: bool) -> tuple[T, U]:
    """``(first(), second())``. With ``in_two_threads`` the two run at once (``second`` in the
    helper thread), each with half the intra-op threads; otherwise one after the other.

    Both always finish before this returns, also when one fails (its error is raised then), so
    no thread is left touching tensors the caller goes on to use.
    """
    if not in_two_threads:
        return first(), second()
    threads = torch.get_num_threads()
    half = threads_per_half(threads)
    pending = _helper_thread().submit(_in_callers_context(second, half))
    torch.set_num_threads(half)
    try:
        first_result = first()
    except BaseException:
        pending.exception()  # wait for it; the caller's error is the one to raise
        raise
    finally:
        torch.set_num_threads(threads)
    return first_result, pending.result()
