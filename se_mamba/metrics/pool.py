"""Worker processes for the CPU-bound metric code (PESQ, STOI, composite).

``pesq`` 0.0.4 holds the GIL for a whole call, so a thread pool runs PESQ one
item at a time (measured: ``benchmarks/bench_pesq_pool.py``). The originals
compute the discriminator's PESQ targets in worker processes (joblib's
``Parallel`` in SEMamba ``models/discriminator.py::batch_pesq``); we do the
same with processes that start ONCE and serve every training step and every
validation (:class:`WorkerPool`), instead of paying a start per call.

Workers are spawned, not forked: a forked child of a process whose OpenMP or
onnxruntime thread pools are running can deadlock. Each worker runs single
threaded (the parallelism is across items).
"""
import atexit
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


@contextmanager
def single_threaded_children():
    """Set the thread variables to 1 while workers are spawned (they read them
    when numpy, numba, onnxruntime or torch first load); restore them after."""
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: "1" for k in THREAD_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _exit_with(parent):
    """In a worker: leave when the parent is gone (a training run killed with
    SIGKILL or by the OOM killer must not leave its workers behind)."""
    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def spawn_executor(workers):
    """A ``ProcessPoolExecutor`` of ``workers`` spawned, single-threaded processes,
    all started now (so they start under the single-thread settings)."""
    with single_threaded_children():
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_exit_with, initargs=(os.getpid(),))
        # one task per worker, submitted before any finishes: each submit finds
        # no idle worker and spawns one
        for f in [pool.submit(os.getpid) for _ in range(workers)]:
            f.result()
    return pool


class WorkerPool:
    """A persistent pool: started on first use, reused by every call, shut down
    at interpreter exit (or :meth:`close`). ``workers <= 1`` runs in-process.

    >>> pool = WorkerPool(1)
    >>> pool.map(abs, [-1, 2, -3])
    [1, 2, 3]
    """

    def __init__(self, workers=2):
        self.workers = max(1, int(workers))
        self._executor = None

    @property
    def started(self):
        return self._executor is not None

    def _started(self):
        if self._executor is None:
            self._executor = spawn_executor(self.workers)
            atexit.register(self.close)
        return self._executor

    def map(self, fn, items, chunksize=1):
        """``[fn(x) for x in items]``, in the workers; ``fn`` must be importable
        (a module-level function or a ``functools.partial`` of one)."""
        items = list(items)
        if self.workers <= 1 or len(items) <= 1:
            return [fn(x) for x in items]
        return list(self._started().map(fn, items, chunksize=chunksize))

    def submit(self, fn, x):
        """A ``Future`` of ``fn(x)`` (already done when the pool runs in-process)."""
        if self.workers <= 1:
            f = Future()
            f.set_result(fn(x))
            return f
        return self._started().submit(fn, x)

    def close(self):
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __getstate__(self):  # a Brain's hparams may be pickled: the processes are not
        return {"workers": self.workers, "_executor": None}
