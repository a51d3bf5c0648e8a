"""Run BLAS on one thread for a while (threadpoolctl, with its library scan made once)."""

from __future__ import annotations

_CONTROLLER = None


def single_blas_thread():
    """Context manager limiting BLAS to one thread.

    For many small products (Kaczmarz blocks) or when the caller parallelises itself (the
    system-matrix simulator's threads), a threaded BLAS spends more time waking and synchronising
    its threads than computing, badly so on a busy machine.
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")
