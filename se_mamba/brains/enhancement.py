"""SpeechBrain Brains for the magnitude-phase models (SEMamba, MambAttention,
MP-SENet, LSTM baselines).

``SEBrain``: the generator trained with the signal losses only (predictive);
its update is SpeechBrain's own ``Brain.fit_batch``.
``MetricGANBrain``: adds the PESQ metric discriminator, trained jointly with
its own optimiser, as SEMamba and MP-SENet do: per batch, D learns the PESQ
of the current estimates, then G takes the signal losses plus the metric term
through the updated D.

Training items arrive normalised and cropped by the data pipeline (the whole
noisy utterance's norm factor, PCS on the whole clean utterance when enabled:
:mod:`se_mamba.dataio`); validation items are whole utterances, normalised
here the way inference does and scored at the input's scale.

hparams (see ``hparams/train/*.yaml``) beyond those of
:class:`se_mamba.brains.base.EnhancementBrain`: ``modules.generator`` (and
``modules.discriminator``), ``loss`` (a :class:`se_mamba.losses.GeneratorLoss`),
``d_opt_class``/``d_scheduler`` for MetricGAN, ``metric_weight`` (0.05),
``stft_eps`` (1e-10).
"""
import speechbrain as sb
import torch

from ..losses import batch_pesq_targets, discriminator_loss, metric_generator_loss
from .base import VALID_METRICS, EnhancementBrain, frozen, unwrap

__all__ = ["SEBrain", "MetricGANBrain", "VALID_METRICS"]


class SEBrain(EnhancementBrain):
    """Generator-only training with the signal losses."""

    def fp32(self):
        """Autocast off: the STFTs, the losses and the metric code run in float32."""
        return torch.autocast(self.device_type, enabled=False)

    # ----------------------------------------------------------- forward
    def compute_forward(self, batch, stage):
        batch = batch.to(self.device)
        noisy, _ = batch.noisy_sig
        train = stage == sb.Stage.TRAIN
        # the DDP wrapper in training; the bare module in evaluation (no collective
        # for ranks that evaluate different numbers of items)
        gen = self.modules.generator if train else unwrap(self.modules.generator)
        fe = unwrap(self.modules.generator).front_end
        eps = getattr(self.hparams, "stft_eps", 1e-10)
        if train:  # normalised by the data pipeline (checked against the model's at the start)
            norm, noisy_n = torch.ones_like(noisy[:, :1]), noisy
        else:
            norm, noisy_n = unwrap(self.modules.generator).normalise(noisy)
        n_mag, n_pha, _ = fe.stft(noisy_n, eps=eps)
        mag, pha, com = gen(n_mag, n_pha)
        with self.fp32():
            mag, pha, com = mag.float(), pha.float(), com.float()
            wav = fe.istft(mag, pha, length=noisy.shape[-1])
            out = {"mag": mag, "pha": pha, "com": com, "wav": wav, "norm": norm}
            if train:
                clean, _ = batch.clean_sig
                c_mag, c_pha, c_com = fe.stft(clean, eps=eps)
                out["clean"] = {"wav": clean, "mag": c_mag, "pha": c_pha, "com": c_com}
                out["com_restft"] = fe.stft(wav, eps=eps)[2]
        return out

    def generator_loss(self, out):
        est = {k: out[k] for k in ("wav", "mag", "pha", "com")}
        est["com_restft"] = out.get("com_restft")
        with self.fp32():
            return self.hparams.loss(out["clean"], est)

    # ------------------------------------------------------- objectives
    def compute_objectives(self, out, batch, stage):
        if stage == sb.Stage.TRAIN:
            loss, self.last_parts = self.generator_loss(out)
            return loss
        clean, lens = batch.clean_sig
        est = out["wav"] / out["norm"]  # back to the input's scale
        self.submit_scores(clean, est, lens)
        # an L1 on the waveform as the stage "loss" (the checkpoint key is PESQ)
        return torch.nn.functional.l1_loss(est, clean)


class MetricGANBrain(SEBrain):
    """SEBrain + the PESQ metric discriminator (MetricGAN objective)."""

    phases = (None, "discriminator", "generator")

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

    def optimizers_step(self):
        super().optimizers_step()
        if self.phase == "discriminator":
            self.optimizer_step -= 1  # a step is one generator update, as the originals count

    def fit_batch(self, batch):
        """``Brain.fit_batch``'s pieces, once for D and once for G."""
        should_step = self.step % self.grad_accumulation_factor == 0
        self.on_fit_batch_start(batch, should_step)
        disc = self.modules.discriminator
        with self.no_sync(not should_step):
            with self.training_ctx:
                out = self.compute_forward(batch, sb.Stage.TRAIN)
            clean = out["clean"]
            # 1) D: learn the PESQ of the current estimates (targets in [0, 1])
            self.phase = "discriminator"
            targets = batch_pesq_targets(clean["wav"], out["wav"].detach(), pool=self.score_pool)
            with self.training_ctx:
                d_loss = discriminator_loss(disc, clean["mag"], out["mag"].detach(), targets.to(self.device))
            self.backward(d_loss)
        if should_step:
            self.optimizers_step()
        # 2) G: signal losses + metric term through the updated D. The bare D,
        # frozen: no gradient (and no DDP reduction) for D in this backward.
        self.phase = "generator"
        with self.no_sync(not should_step), frozen(unwrap(disc)) as d_net:
            g_loss, parts = self.generator_loss(out)
            with self.training_ctx:
                metric = metric_generator_loss(d_net, clean["mag"], out["mag"])
            total = g_loss + self.hparams.metric_weight * metric.float()
            self.backward(total)
        if should_step:
            self.optimizers_step()
        self.phase = None
        parts.update(metric=float(metric.detach()), d_loss=float(d_loss.detach()),
                     pesq_failed=int((~torch.isfinite(targets)).sum()))
        self.last_parts = parts
        self.on_fit_batch_end(batch, out, total, should_step)
        return total.detach().cpu()
