"""Crash-safe checkpoints for training.

SpeechBrain's ``Checkpointer.save_checkpoint`` writes the checkpoint's meta
file (``CKPT.yaml``) first and the parameter files after it. A process killed
in between leaves a folder that looks like a complete checkpoint, and
resuming from it fails. :class:`AtomicCheckpointer` builds each checkpoint in
a staging folder and renames it into place only when every file is written.

SpeechBrain names a checkpoint by its second (``CKPT+<date>+<time>+00``) and
bumps the suffix while that name exists. The staging folder is emptied before
every save, so the name is chosen against the final folder: two saves in one
second (a short epoch) get ``+00`` and ``+01`` instead of colliding.
"""
import os
import shutil

from speechbrain.utils.checkpoints import CKPT_PREFIX, Checkpoint, Checkpointer
from speechbrain.utils.distributed import if_main_process

STAGING = ".staging"


class AtomicCheckpointer(Checkpointer):
    """A drop-in ``Checkpointer`` whose checkpoints appear atomically."""

    def save_checkpoint(self, meta={}, end_of_epoch=True, name=None, **kwargs):  # noqa: B006
        final_dir = self.checkpoints_dir
        staging = final_dir / STAGING
        if if_main_process():
            shutil.rmtree(staging, ignore_errors=True)  # leftovers of a killed save
            staging.mkdir(parents=True, exist_ok=True)
        if name is None:
            # a free name in the final folder (the staging one is always empty)
            name = self._new_checkpoint_dirpath().name[len(CKPT_PREFIX) + 1:]
        self.checkpoints_dir = staging
        try:
            ckpt = super().save_checkpoint(meta=meta, end_of_epoch=end_of_epoch, name=name, **kwargs)
        finally:
            self.checkpoints_dir = final_dir
        if ckpt is None:  # not the main process
            return None
        target = final_dir / ckpt.path.name
        if target.exists():
            # an explicitly named checkpoint saved again: the new one replaces it
            old = staging / (target.name + ".old")
            os.replace(target, old)
            os.replace(ckpt.path, target)
            shutil.rmtree(old)
        else:
            os.replace(ckpt.path, target)  # same filesystem: atomic
        return Checkpoint(target, ckpt.meta, {k: target / v.name for k, v in ckpt.paramfiles.items()})
