"""The persistent worker processes of PESQ targets and validation scores."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import soundfile as sf
import torch

from se_mamba.losses import batch_pesq_targets
from se_mamba.metrics.pool import WorkerPool

VB = os.path.join(os.path.dirname(__file__), "data", "voicebank")


def test_pesq_targets_in_workers_equal_the_serial_ones():
    clean = [sf.read(os.path.join(VB, "clean", f"{u}.wav"))[0][:32000] for u in ("p232_003", "p257_008")]
    noisy = [sf.read(os.path.join(VB, "noisy", f"{u}.wav"))[0][:32000] for u in ("p232_003", "p257_008")]
    c, e = torch.tensor(np.stack(clean + [clean[0]])), torch.tensor(np.stack(noisy + [np.zeros(32000)]))
    serial = batch_pesq_targets(c, e)
    pool = WorkerPool(2)
    try:
        parallel = batch_pesq_targets(c, e, pool=pool)
        assert pool.started  # the items ran in the workers
        again = batch_pesq_targets(c, e, pool=pool)  # the same processes serve the next call
    finally:
        pool.close()
    assert torch.equal(serial[:2], parallel[:2]) and torch.equal(parallel[:2], again[:2])
    assert torch.isnan(parallel[2]) and torch.isnan(serial[2])  # silence: failed, not a score
    assert 0.0 < float(serial[0]) < 1.0


def test_workers_leave_when_the_training_process_is_killed(tmp_path):
    """A run killed with SIGKILL (or by the OOM killer) leaves no workers behind."""
    script = tmp_path / "run.py"
    script.write_text(
        "import os, sys, time\n"
        "from se_mamba.metrics.pool import WorkerPool\n"
        "if __name__ == '__main__':\n"
        "    pool = WorkerPool(2)\n"
        "    pool.map(abs, [-1, -2])\n"
        "    print(' '.join(str(p) for p in pool._executor._processes), flush=True)\n"
        "    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), "..")))
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(running(p) for p in pids):
        time.sleep(0.2)
    assert not [p for p in pids if running(p)]


def running(pid):
    """A live process (not a zombie waiting for its reaper)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
