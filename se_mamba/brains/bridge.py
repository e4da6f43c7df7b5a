"""SpeechBrain Brain for the spectral SB models (SBM, SB-NCSN++) and Mamba-base.

Training step: peak-normalise by the noisy input, compressed complex STFT of
noisy (y) and clean (x0); for a bridge model draw t ~ U[t_eps, 1] and
x_t on the bridge, for Mamba-base use y; predict x0 and apply
``hparams.loss`` (:class:`se_mamba.losses.BridgeLoss`). After each optimiser
step the EMA of the weights (``hparams.ema``, :class:`se_mamba.brains.ema.EMA`)
is updated; validation enhances with the EMA weights in ONE step
(``valid_sb_steps``, default 1) and scores PESQ / ESTOI / SI-SDR; the best
checkpoint by PESQ is kept (machinery shared with :class:`SEBrain`). Each crop is peak-normalised by
its noisy input here, as sgmse's data module does (``normalize="noisy"``), so
the data pipeline leaves the levels alone (``train_normalisation: null``).

Extra hparams: ``ema`` (optional), ``valid_sb_steps`` (1), ``modules.generator``
an :class:`se_mamba.bridge.enhancer.SBEnhancer`.
"""
import speechbrain as sb
import torch

from .base import unwrap
from .enhancement import SEBrain


class BridgeBrain(SEBrain):
    pipeline_normalises = False  # each crop by its own noisy peak (sgmse), in compute_forward

    def _model(self):
        return unwrap(self.modules.generator)

    def _eval_model(self):
        ema = getattr(self.hparams, "ema", None)
        return ema.model if ema is not None else self._model()

    def on_fit_start(self):
        super().on_fit_start()
        ema = getattr(self.hparams, "ema", None)
        if ema is not None:
            ema.to(self.device)

    def on_evaluate_start(self, max_key=None, min_key=None):
        super().on_evaluate_start(max_key=max_key, min_key=min_key)
        ema = getattr(self.hparams, "ema", None)
        if ema is not None:
            ema.to(self.device)

    def compute_forward(self, batch, stage):
        batch = batch.to(self.device)
        noisy, _ = batch.noisy_sig
        if stage != sb.Stage.TRAIN:
            model = self._eval_model()
            steps = getattr(self.hparams, "valid_sb_steps", 1)
            kwargs = {"steps": steps} if model.is_bridge else {}
            wav = model.enhance(noisy, **kwargs)
            return {"wav": wav, "norm": torch.ones(noisy.shape[0], 1, device=noisy.device)}
        clean, _ = batch.clean_sig
        model = self._model()
        rep = model.representation
        _, noisy_n, clean_n = model.normalise(noisy, clean)  # per crop, as sgmse
        y, x0 = rep(noisy_n), rep(clean_n)
        x_t, t = model.training_draw(x0, y)
        est = self.modules.generator(x_t, y, t)
        with self.fp32():
            est = est.to(x0.dtype)
            out = {"est": est, "x0": x0, "clean_wav": clean_n}
            if self.hparams.loss.needs_waveform:
                out["est_wav"] = rep.inverse(est, clean_n.shape[-1])
        return out

    def generator_loss(self, out):
        with self.fp32():
            return self.hparams.loss(out["est"], out["x0"], out.get("est_wav"), out["clean_wav"])

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        ema = getattr(self.hparams, "ema", None)
        if should_step and ema is not None:  # after each optimiser step
            ema.update(self.modules.generator)
        super().on_fit_batch_end(batch, outputs, loss, should_step)
