"""``triton_metal.batch()``: launches on host arrays waited for once, at the end of a block."""

from __future__ import annotations

import contextlib

from .. import _core


@contextlib.contextmanager
def batch():
    """Launches made by this thread inside the block may be queued in one Metal command
    buffer and waited for once, when the block ends; the arrays hold every result when the
    block exits (even when it exits by an exception), and a kernel's GPU error is raised
    there. Inside the block, results of a launch are not yet visible to Python.

    On a Mac this saves a GPU round trip per launch for numpy arrays Metal can use in place
    (page-aligned memory); a launch whose arrays need a copy, or given as bare addresses,
    first completes what is queued and then runs by itself. PyTorch MPS tensors and MLX's
    functional form are queued on their frameworks' streams anyway. On the CPU executor
    every launch completes when it returns, so a batch changes nothing but is accepted.
    Batches nest; the outermost one waits."""
    _core.batch_begin()
    try:
        yield
    finally:
        _core.batch_end()
