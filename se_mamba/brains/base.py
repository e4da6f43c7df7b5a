"""What every se_mamba Brain shares: SpeechBrain's training machinery kept,
the originals' step-based protocol, validation by PESQ in worker processes.

SpeechBrain's pieces, used as they are (never a private loop):

* the ``training_ctx`` autocast (``--precision bf16|fp16``) and its GradScaler;
* ``--grad_accumulation_factor`` with DDP ``no_sync`` on the batches that do not step;
* ``optimizers_step``: unscale, clip each optimiser's gradients to
  ``max_grad_norm``, step, ``zero_grad``; ``freeze_optimizers`` picks which
  optimisers step (the MetricGAN Brain steps D, then G);
* ``check_loss_isfinite`` (``nonfinite_patience``) and ``skip_nonfinite_grads``.

Added here:

* **One decision for every process.** A non-finite loss on one rank is agreed
  on all ranks before ``backward()`` (so every rank still enters DDP's
  all-reduce), and a step whose loss or gradient is not finite is skipped
  whole, on every rank (``skipped_steps`` in the train log).
* **Steps, as the originals count them.** ``optimizer_step`` counts generator
  updates; it is the same on every rank (checked at each epoch's end) and is
  restored on resume. ``valid_every: N`` validates and checkpoints every N
  steps (MambAttention: 250, SEMamba: 1000) without touching the learning-rate
  schedule, which decays once per pass over the training data as in the
  originals' ``train.py``. ``max_steps`` (SpeechBrain's
  ``optimizer_step_limit``) stops the run at a step count.
* **Validation** is split across the ranks (each scores its share, the scores
  are gathered), scored by PESQ / ESTOI / SI-SDR in persistent worker
  processes (:class:`se_mamba.metrics.pool.WorkerPool`; ``score_workers``),
  and keeps the checkpoints of best validation PESQ.
"""
import logging
import math
import time
from contextlib import contextmanager

import numpy as np
import speechbrain as sb
import torch
import torch.distributed as dist
import yaml
from speechbrain.utils.checkpoints import mark_as_loader, mark_as_saver, register_checkpoint_hooks
from speechbrain.utils.distributed import is_distributed_initialized
from tqdm import tqdm

from ..interface import require_enhancement_model
from ..metrics.pool import WorkerPool
from ..metrics.report import score_pair

logger = logging.getLogger(__name__)

# validation metrics (report keys) -> names in the logs and the checkpoint meta
VALID_METRICS = {"pesq_wb": "pesq", "estoi": "estoi", "si_sdr": "si_sdr"}


def score_valid_pair(pair):
    """Validation scores of one (clean, estimate) pair (a worker-process job)."""
    return score_pair(pair[0], pair[1], metrics=tuple(VALID_METRICS))


def unwrap(module):
    """The module inside a DDP wrapper (or the module itself)."""
    return getattr(module, "module", module)


@contextmanager
def frozen(module):
    """No gradient reaches ``module``'s parameters inside the block."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p in params:
            p.requires_grad_(True)


class ShardSampler(torch.utils.data.Sampler):
    """Items ``rank, rank + world, ...`` of a (length-sorted) evaluation set:
    every item once over all ranks, lengths balanced."""

    def __init__(self, n, rank, world):
        self.n, self.rank, self.world = n, rank, world

    def __iter__(self):
        return iter(range(self.rank, self.n, self.world))

    def __len__(self):
        return len(range(self.rank, self.n, self.world))


@register_checkpoint_hooks
class EnhancementBrain(sb.Brain):
    """Base of the se_mamba Brains (see the module docstring).

    Subclasses give ``compute_forward``, ``compute_objectives`` (for VALID and
    TEST: append ``self.submit_scores(clean, estimate, lengths)``) and the
    generator's parameters in ``modules.generator``.

    hparams: ``g_opt_class``, ``g_scheduler`` (per pass over the training data),
    ``train_logger``, ``epoch_counter``; optional ``valid_every`` (steps),
    ``score_workers`` (2), ``keep_checkpoints`` (2).
    """

    phases = (None,)  # the optimiser groups that step in turn (MetricGAN: D then G)
    # the data pipeline applies the model's input normalisation to training items
    # (``train_normalisation``); False: the Brain applies it to each crop itself
    pipeline_normalises = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.skipped_steps = 0
        self.nonfinite_count = 0  # SpeechBrain's, reset per epoch by its loop
        self.last_valid_step = -1
        self.valid_every = int(getattr(self.hparams, "valid_every", None) or 0)
        self.score_pool = WorkerPool(getattr(self.hparams, "score_workers", 2))
        self.phase = None
        self._nonfinite = {p: False for p in self.phases}
        self.valid_loader = None

    def on_fit_start(self):
        self.check_train_normalisation()
        super().on_fit_start()

    def check_train_normalisation(self):
        """Training sees inputs normalised as the model normalises them at
        inference (its ``input_normalisation``), or the run stops here."""
        model = require_enhancement_model(self.modules.generator, type(self).__name__)
        have = getattr(self.hparams, "train_normalisation", None)
        want = model.input_normalisation if self.pipeline_normalises else None
        if have != want:
            how = (f"the data pipeline must apply it: train_normalisation: {want}" if self.pipeline_normalises
                   else f"{type(self).__name__} normalises each crop itself: train_normalisation: null")
            raise ValueError(f"train_normalisation is {have!r}, but {type(model).__name__} is used with input "
                             f"normalisation {model.input_normalisation!r}; {how}")

    # -------------------------------------------------------- optimisers
    def init_optimizers(self):
        self.g_optimizer = self.hparams.g_opt_class(self.modules.generator.parameters())
        self.g_scheduler = self.hparams.g_scheduler(self.g_optimizer)
        self.optimizers_dict = {"g_optimizer": self.g_optimizer}
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("g_optimizer", self.g_optimizer)
            self.checkpointer.add_recoverable("g_scheduler", self.g_scheduler)

    def step_schedulers(self):
        """Once per pass over the training data (the originals' ``train.py``)."""
        self.g_scheduler.step()

    # ------------------------------------------- one decision on every rank
    def all_ranks_true(self, flag):
        """``flag`` on every process (AND over the ranks; itself without DDP)."""
        if not is_distributed_initialized():
            return bool(flag)
        t = torch.tensor([1 if bool(flag) else 0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return bool(t.item())

    def backward(self, loss):
        """SpeechBrain's loss handling of ``Brain.fit_batch``: scale for AMP and
        accumulation, check, backward (on every rank, finite or not, so that DDP's
        all-reduce never waits for a rank that skipped)."""
        scaled = self.scaler.scale(loss / self.grad_accumulation_factor)
        self.check_loss_isfinite(scaled)
        scaled.backward()

    def check_loss_isfinite(self, loss):
        finite = self.all_ranks_true(torch.isfinite(loss).all())
        if not finite:
            self._nonfinite[self.phase] = True  # the step of this window is skipped
            logger.warning("%s loss is not finite (on at least one process) before step %d",
                           self.phase or "training", self.optimizer_step + 1)
        # SpeechBrain's patience (nonfinite_patience per epoch), now the same on every rank
        super().check_loss_isfinite(loss if finite else loss.new_tensor(float("nan")))

    def stepping_params(self):
        return [p for opt in self.freeze_optimizers(self.optimizers_dict).values()
                for group in opt.param_groups for p in group["params"] if p.grad is not None]

    def check_gradients(self):
        """Called by ``optimizers_step`` when ``skip_nonfinite_grads`` is on
        (our YAMLs turn it on) and no GradScaler runs: skip the WHOLE step
        when the window's loss or any gradient is not finite. Gradients are
        all-reduced before this point and the loss flag is agreed, so every
        rank decides alike."""
        params = self.stepping_params()
        norm = torch.nn.utils.get_total_norm([p.grad for p in params]) if params else torch.zeros(())
        bad = self._nonfinite[self.phase] or not bool(torch.isfinite(norm))
        self._nonfinite[self.phase] = False
        if bad:
            for p in params:
                p.grad = None  # optimisers skip parameters without a gradient
            self.skipped_steps += 1
            logger.warning("%s step %d skipped: non-finite loss or gradient (norm %s)",
                           self.phase or "training", self.optimizer_step + 1, float(norm))

    PHASE_OPTIMIZER = {"discriminator": "d_optimizer", "generator": "g_optimizer"}

    def freeze_optimizers(self, optimizers):
        """Only the optimiser of the current phase steps (all of them outside a phase)."""
        if self.phase is None:
            return optimizers
        key = self.PHASE_OPTIMIZER[self.phase]
        return {key: optimizers[key]}

    # ---------------------------------------------------------- the loop
    def fit(self, epoch_counter, train_set, valid_set=None, progressbar=None, train_loader_kwargs={},  # noqa: B006
            valid_loader_kwargs={}):  # noqa: B006
        if valid_set is not None and not isinstance(valid_set, (torch.utils.data.DataLoader,
                                                                sb.dataio.dataloader.LoopedLoader)):
            valid_set = self.make_dataloader(valid_set, stage=sb.Stage.VALID, ckpt_prefix=None,
                                             **valid_loader_kwargs)
        self.valid_loader = valid_set
        try:
            super().fit(epoch_counter, train_set, valid_set, progressbar, train_loader_kwargs, {})
        finally:
            self.score_pool.close()

    def evaluate(self, *args, **kwargs):
        try:
            return super().evaluate(*args, **kwargs)
        finally:
            self.score_pool.close()

    def make_dataloader(self, dataset, stage, ckpt_prefix="dataloader-", **loader_kwargs):
        if stage != sb.Stage.TRAIN and self.distributed_launch and "sampler" not in loader_kwargs:
            # each rank evaluates its share; on_stage_end gathers the scores
            loader_kwargs["sampler"] = ShardSampler(len(dataset), dist.get_rank(), dist.get_world_size())
        return super().make_dataloader(dataset, stage, ckpt_prefix, **loader_kwargs)

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        if (should_step and self.valid_every and self.optimizer_step % self.valid_every == 0
                and self.optimizer_step != self.last_valid_step):
            self.validate(self.hparams.epoch_counter.current, end_of_epoch=False)

    def _fit_valid(self, valid_set, epoch, enable):
        if not self.valid_every:
            return super()._fit_valid(valid_set, epoch, enable)
        # step-based validation; the run's end gets one more if its last steps were not validated
        finished = epoch >= self.hparams.epoch_counter.limit or self._optimizer_step_limit_exceeded
        if valid_set is not None and finished and self.last_valid_step != self.optimizer_step:
            self.validate(epoch, end_of_epoch=True)

    def validate(self, epoch, end_of_epoch):
        """One pass over the validation set in the middle of training (the
        batch counter and train mode are restored after)."""
        if self.valid_loader is None:
            return
        step, self._valid_end_of_epoch = self.step, end_of_epoch
        self.on_stage_start(sb.Stage.VALID, epoch)
        self.modules.eval()
        avg = 0.0
        self.step = 0
        with torch.no_grad():
            for batch in tqdm(self.valid_loader, dynamic_ncols=True, desc=f"valid @ step {self.optimizer_step}",
                              disable=self.noprogressbar or not sb.utils.distributed.if_main_process()):
                self.step += 1
                avg = self.update_average(self.evaluate_batch(batch, stage=sb.Stage.VALID), avg)
        self.on_stage_end(sb.Stage.VALID, avg, epoch)
        self.step, self._valid_end_of_epoch = step, True
        self.modules.train()

    # --------------------------------------------------------- scoring
    def submit_scores(self, clean, est, lens):
        """Queue the validation scores of a batch (worker processes)."""
        n = (lens * clean.shape[-1]).round().long()
        for i in range(clean.shape[0]):
            pair = (clean[i, : n[i]].float().cpu().numpy(), est[i, : n[i]].detach().float().cpu().numpy())
            self.pending.append(self.score_pool.submit(score_valid_pair, pair))

    def gathered_scores(self):
        scores = [f.result() for f in self.pending]
        self.pending = []
        if is_distributed_initialized():
            parts = [None] * dist.get_world_size()
            dist.all_gather_object(parts, scores)
            scores = [s for part in parts for s in part]
        return scores

    # ------------------------------------------------------------ stages
    def on_stage_start(self, stage, epoch=None):
        self.pending = []
        self.stage_start = time.time()

    def check_steps_agree(self):
        """The step counter must be the same on every rank (validation,
        checkpoints and the LR schedule are keyed to it)."""
        if not is_distributed_initialized():
            return
        t = torch.tensor([self.optimizer_step, -self.optimizer_step], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        if int(t[0]) != -int(t[1]):
            raise RuntimeError(f"optimizer steps differ across processes ({-int(t[1])} to {int(t[0])}): "
                               "every process must get the same number of batches")

    def on_stage_end(self, stage, stage_loss, epoch=None):
        if stage == sb.Stage.TRAIN:
            self.check_steps_agree()
            self.train_stats = {"loss": stage_loss, "steps": self.optimizer_step,
                                "skipped_steps": self.skipped_steps}
            self.step_schedulers()
            return
        scores = self.gathered_scores()
        stats = {"loss": stage_loss}
        for key, name in VALID_METRICS.items():
            vals = np.array([s[key] for s in scores], dtype=np.float64)
            stats[name] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
        stats["scored"] = len(scores)
        stats["failed"] = sum(1 for s in scores if s["error"])
        stats["seconds"] = round(time.time() - self.stage_start, 1)
        if stage == sb.Stage.VALID:
            self.last_valid_step = self.optimizer_step
            lr = self.g_optimizer.param_groups[0]["lr"]
            train_stats = getattr(self, "train_stats", None)
            if self.valid_every:  # validated inside an epoch: the running figures
                train_stats = {"loss": self.avg_train_loss, "steps": self.optimizer_step,
                               "skipped_steps": self.skipped_steps}
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "step": self.optimizer_step, "lr": lr},
                train_stats=train_stats, valid_stats=stats)
            pesq = stats["pesq"] if math.isfinite(stats["pesq"]) else -1.0
            self.checkpointer.save_and_keep_only(
                meta={"pesq": pesq, "epoch": epoch, "step": self.optimizer_step},
                end_of_epoch=getattr(self, "_valid_end_of_epoch", True), max_keys=["pesq"],
                num_to_keep=getattr(self.hparams, "keep_checkpoints", 2))
        else:
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current}, test_stats=stats)
        self.last_stats = stats

    # ------------------------------------------------ resume what we count
    @mark_as_saver
    def _save(self, path):
        super()._save(path)
        with open(path, encoding="utf-8") as f:
            saved = yaml.safe_load(f)
        saved.update(skipped_steps=self.skipped_steps, last_valid_step=self.last_valid_step)
        with open(path, "w", encoding="utf-8") as f:
            f.write(yaml.dump(saved))

    @mark_as_loader
    def _recover(self, path, end_of_epoch):
        super()._recover(path, end_of_epoch)
        with open(path, encoding="utf-8") as f:
            saved = yaml.safe_load(f)
        self.skipped_steps = saved.get("skipped_steps", 0)
        self.last_valid_step = saved.get("last_valid_step", -1)
