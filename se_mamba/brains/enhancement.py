"""SpeechBrain Brains for the magnitude-phase models (SEMamba, MambAttention,
MP-SENet, LSTM baselines).

``SEBrain``: the generator trained with the signal losses only (predictive).
``MetricGANBrain``: adds the PESQ metric discriminator, trained jointly with
its own optimiser, as SEMamba and MP-SENet do.

Both expect these hparams (see ``hparams/train/*.yaml``):

* ``modules``: ``generator`` (and ``discriminator`` for MetricGAN);
* ``loss``: a :class:`se_mamba.losses.GeneratorLoss` (term weights);
* ``g_opt_class`` (``d_opt_class``): optimiser factories; ``g_scheduler``
  (``d_scheduler``): factories of per-epoch LR schedulers (ExponentialLR);
* ``metric_weight`` (0.05), ``max_grad_norm``, ``stft_eps`` (1e-10),
  ``pcs_target`` (optional function applied to the clean target),
  ``checkpointer``, ``epoch_counter``, ``train_logger``.

A step whose loss (or gradient) is not finite is skipped and logged, never
applied: ``self.skipped_steps`` counts them. Validation scores PESQ (wb),
ESTOI and SI-SDR; checkpoints keep the best by validation PESQ.
"""
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import speechbrain as sb
import torch

from ..losses import batch_pesq_targets, discriminator_loss, metric_generator_loss
from ..metrics.report import score_pair
from ..nn.spectral import amplitude_normalise

logger = logging.getLogger(__name__)


# validation metrics (report keys) -> names in the logs and the checkpoint meta
VALID_METRICS = {"pesq_wb": "pesq", "estoi": "estoi", "si_sdr": "si_sdr"}


class SEBrain(sb.Brain):
    """Generator-only training with the signal losses."""

    # ----------------------------------------------------------- forward
    def _front_end(self):
        gen = self.modules.generator
        gen = getattr(gen, "module", gen)  # DDP wrapper
        return gen.front_end

    def compute_forward(self, batch, stage):
        batch = batch.to(self.device)
        noisy, _ = batch.noisy_sig
        clean, _ = batch.clean_sig
        fe = self._front_end()
        eps = getattr(self.hparams, "stft_eps", 1e-10)
        norm, noisy_n, clean_n = amplitude_normalise(noisy, clean)
        n_mag, n_pha, _ = fe.stft(noisy_n, eps=eps)
        mag, pha, com = self.modules.generator(n_mag, n_pha)
        wav = fe.istft(mag, pha, length=noisy.shape[-1])
        out = {"mag": mag, "pha": pha, "com": com, "wav": wav, "norm": norm}
        if stage == sb.Stage.TRAIN:
            target = clean_n
            pcs = getattr(self.hparams, "pcs_target", None)
            if pcs is not None:
                target = pcs(target)
            c_mag, c_pha, c_com = fe.stft(target, eps=eps)
            out["clean"] = {"wav": target, "mag": c_mag, "pha": c_pha, "com": c_com}
            out["com_restft"] = fe.stft(wav, eps=eps)[2]
        return out

    def generator_loss(self, out):
        est = {"wav": out["wav"], "mag": out["mag"], "pha": out["pha"], "com": out["com"],
               "com_restft": out.get("com_restft")}
        total, parts = self.hparams.loss(out["clean"], est)
        return total, parts

    # ------------------------------------------------------- objectives
    def compute_objectives(self, out, batch, stage):
        if stage == sb.Stage.TRAIN:
            return self.generator_loss(out)[0]
        clean, lens = batch.clean_sig
        est = out["wav"] / out["norm"]  # back to the input's scale
        n = (lens * clean.shape[-1]).round().long()
        pairs = [(clean[i, : n[i]].cpu().numpy(), est[i, : n[i]].detach().cpu().numpy())
                 for i in range(clean.shape[0])]
        workers = getattr(self.hparams, "score_workers", 2)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            self.scores += list(pool.map(lambda p: score_pair(*p, metrics=tuple(VALID_METRICS)), pairs))
        # an L1 on the waveform as the stage "loss" (the checkpoint key is PESQ)
        return torch.nn.functional.l1_loss(est, clean)

    # ---------------------------------------------------------- training
    def _finite_step(self, loss, optimizer, params, name):
        """backward + clip + step, unless the loss or a gradient is not finite."""
        if not torch.isfinite(loss):
            self.skipped_steps += 1
            logger.warning("%s loss is %s at step %d: step skipped", name, loss.item(), self.step)
            optimizer.zero_grad(set_to_none=True)
            return False
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
        if not torch.isfinite(norm):
            self.skipped_steps += 1
            logger.warning("%s gradient norm is %s at step %d: step skipped", name, norm.item(), self.step)
            optimizer.zero_grad(set_to_none=True)
            return False
        optimizer.step()
        return True

    def fit_batch(self, batch):
        out = self.compute_forward(batch, sb.Stage.TRAIN)
        loss, parts = self.generator_loss(out)
        self._finite_step(loss, self.g_optimizer, self.modules.generator.parameters(), "generator")
        self.optimizer_step += 1
        self.last_parts = parts
        return loss.detach().cpu()

    def init_optimizers(self):
        self.skipped_steps = 0
        self.g_optimizer = self.hparams.g_opt_class(self.modules.generator.parameters())
        self.optimizers_dict = {"g_optimizer": self.g_optimizer}
        self.g_scheduler = self.hparams.g_scheduler(self.g_optimizer)
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("g_optimizer", self.g_optimizer)
            self.checkpointer.add_recoverable("g_scheduler", self.g_scheduler)

    def step_schedulers(self):
        self.g_scheduler.step()

    # ------------------------------------------------------------ stages
    def on_stage_start(self, stage, epoch=None):
        self.scores = []
        self.stage_start = time.time()

    def on_stage_end(self, stage, stage_loss, epoch=None):
        if stage == sb.Stage.TRAIN:
            # optimizer steps so far (per process: with DDP each rank sees 1/world of the data)
            self.train_stats = {"loss": stage_loss, "steps": self.optimizer_step,
                                "skipped_steps": self.skipped_steps}
            self.step_schedulers()
            return
        stats = {"loss": stage_loss}
        for key, name in VALID_METRICS.items():
            vals = np.array([s[key] for s in self.scores], dtype=np.float64)
            stats[name] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
        stats["failed"] = sum(1 for s in self.scores if s["error"])
        stats["seconds"] = round(time.time() - self.stage_start, 1)
        if stage == sb.Stage.VALID:
            lr = self.g_optimizer.param_groups[0]["lr"]
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": lr}, train_stats=getattr(self, "train_stats", None),
                valid_stats=stats)
            pesq = stats["pesq"] if math.isfinite(stats["pesq"]) else -1.0
            self.checkpointer.save_and_keep_only(meta={"pesq": pesq, "epoch": epoch}, max_keys=["pesq"],
                                                 num_to_keep=getattr(self.hparams, "keep_checkpoints", 2))
        else:
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current}, test_stats=stats)
        self.last_stats = stats


class MetricGANBrain(SEBrain):
    """SEBrain + the PESQ metric discriminator (MetricGAN objective)."""

    def init_optimizers(self):
        super().init_optimizers()
        self.d_optimizer = self.hparams.d_opt_class(self.modules.discriminator.parameters())
        self.d_scheduler = self.hparams.d_scheduler(self.d_optimizer)
        self.optimizers_dict["d_optimizer"] = self.d_optimizer
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("d_optimizer", self.d_optimizer)
            self.checkpointer.add_recoverable("d_scheduler", self.d_scheduler)

    def step_schedulers(self):
        super().step_schedulers()
        self.d_scheduler.step()

    def fit_batch(self, batch):
        out = self.compute_forward(batch, sb.Stage.TRAIN)
        disc = self.modules.discriminator
        clean = out["clean"]
        # 1) discriminator: learn PESQ of the current estimates (targets in [0, 1])
        targets = batch_pesq_targets(clean["wav"], out["wav"].detach(),
                                     workers=getattr(self.hparams, "score_workers", 2))
        d_loss = discriminator_loss(disc, clean["mag"], out["mag"].detach(), targets.to(self.device))
        self._finite_step(d_loss, self.d_optimizer, disc.parameters(), "discriminator")
        # 2) generator: signal losses + metric term through the updated D
        g_loss, parts = self.generator_loss(out)
        metric = metric_generator_loss(disc, clean["mag"], out["mag"])
        total = g_loss + self.hparams.metric_weight * metric
        self._finite_step(total, self.g_optimizer, self.modules.generator.parameters(), "generator")
        self.optimizer_step += 1
        parts.update(metric=float(metric.detach()), d_loss=float(d_loss.detach()),
                     pesq_failed=int((~torch.isfinite(targets)).sum()))
        self.last_parts = parts
        return total.detach().cpu()
