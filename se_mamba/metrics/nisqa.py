"""NISQA v2.0 speech-quality prediction (Mittag, Naderi, Chehadi and Möller,
Interspeech 2021; github.com/gabrielmittag/NISQA), our implementation of its
inference, so that its released weights (``weights/nisqa.tar`` of that
repository: not in the ``nisqa`` wheel, whose exact torch 2.2 / numpy 1.26
pins rule it out beside this project) load and run here.

The released model is ``NISQA_DIM``: a framewise CNN with adaptive max
pooling over 48-band log-mel segments of 15 frames (every 4th frame), two
self-attention layers over time, and five attention-pooling heads giving
overall MOS, noisiness, discontinuity, colouration and loudness. Module
names follow ``nisqa/NISQA_lib.py`` (``cnn.model.conv1``,
``time_dependency.model.layers.0.self_attn``, ``pool_layers.0.model.linear1``)
so the checkpoint's ``model_state_dict`` loads unchanged; the front end
(``ms_*`` arguments stored in the checkpoint) uses librosa's mel spectrogram
as the original does. Only the configuration the released weights use is
built (adaptive CNN, self-attention, no second time-dependency stage,
attention pooling with a feed-forward layer); another one is refused.

Example
-------
>>> import numpy as np, torch
>>> model = NISQADim(DEFAULT_ARGS).eval()
>>> x = np.random.default_rng(0).standard_normal(16000) * 0.05
>>> tuple(predict(model, DEFAULT_ARGS, x, 16000).shape)
(5,)
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DIMENSIONS = ("mos", "noi", "dis", "col", "loud")
# the released model's arguments as the repository's training config states
# them; a checkpoint's own ``args`` take precedence
DEFAULT_ARGS = {
    "model": "NISQA_DIM", "ms_sr": None, "ms_n_fft": 4096, "ms_hop_length": 0.01, "ms_win_length": 0.02,
    "ms_n_mels": 48, "ms_fmax": 20000, "ms_seg_length": 15, "ms_seg_hop_length": 4, "ms_max_segments": 1300,
    "cnn_model": "adapt", "cnn_c_out_1": 16, "cnn_c_out_2": 32, "cnn_c_out_3": 64, "cnn_kernel_size": 3,
    "cnn_pool_1": [24, 7], "cnn_pool_2": [12, 5], "cnn_pool_3": [6, 3], "cnn_fc_out_h": None,
    "td": "self_att", "td_sa_d_model": 64, "td_sa_nhead": 1, "td_sa_pos_enc": None, "td_sa_num_layers": 2,
    "td_sa_h": 64, "td_2": "skip", "pool": "att", "pool_att_h": 128,
}


def check_supported(args):
    """Raise ValueError naming what differs from the released configuration."""
    want = {"model": "NISQA_DIM", "cnn_model": "adapt", "td": "self_att", "pool": "att"}
    bad = [f"{k}={args.get(k)!r}" for k, v in want.items() if args.get(k) != v]
    if args.get("td_2") not in (None, "skip"):
        bad.append(f"td_2={args.get('td_2')!r}")
    if args.get("td_sa_pos_enc"):
        bad.append("td_sa_pos_enc")
    if not args.get("pool_att_h"):
        bad.append("pool_att_h=None")
    if bad:
        raise ValueError("unsupported NISQA configuration (only the released NISQA_DIM one is built): "
                         + ", ".join(bad))


class _AdaptCNN(nn.Module):
    """Six 3x3 conv + batch-norm + ReLU layers, adaptive max pooling after the
    1st, 2nd and 4th; the last kernel spans the last pool's width, leaving one
    column: [N, 1, mels, seg] -> [N, c3 * pool_3[0]]."""

    def __init__(self, c1, c2, c3, kernel, pool_1, pool_2, pool_3, fc_out_h):
        super().__init__()
        k = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
        pad = (1, 0) if k[1] == 1 else (1, 1)
        chans = [1, c1, c2, c3, c3, c3]
        for i in range(5):
            setattr(self, f"conv{i + 1}", nn.Conv2d(chans[i], chans[i + 1], k, padding=pad))
            setattr(self, f"bn{i + 1}", nn.BatchNorm2d(chans[i + 1]))
        self.conv6 = nn.Conv2d(c3, c3, (k[0], pool_3[1]), padding=(1, 0))
        self.bn6 = nn.BatchNorm2d(c3)
        self.pools = (tuple(pool_1), tuple(pool_2), tuple(pool_3))
        self.fc = nn.Linear(c3 * pool_3[0], fc_out_h) if fc_out_h else None
        self.fan_out = fc_out_h or c3 * pool_3[0]

    def forward(self, x):
        def block(i, x):
            return F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))

        x = F.adaptive_max_pool2d(block(1, x), self.pools[0])
        x = F.adaptive_max_pool2d(block(2, x), self.pools[1])
        x = F.adaptive_max_pool2d(block(4, block(3, x)), self.pools[2])
        x = block(6, block(5, x)).flatten(1)
        return self.fc(x) if self.fc is not None else x


class _Framewise(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.model = _AdaptCNN(args["cnn_c_out_1"], args["cnn_c_out_2"], args["cnn_c_out_3"],
                               args["cnn_kernel_size"], args["cnn_pool_1"], args["cnn_pool_2"], args["cnn_pool_3"],
                               args.get("cnn_fc_out_h"))


class _SelfAttentionLayer(nn.Module):
    """Post-norm transformer encoder layer (ReLU feed-forward) on [T, B, D]."""

    def __init__(self, d_model, nhead, hidden):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead)
        self.linear1 = nn.Linear(d_model, hidden)
        self.linear2 = nn.Linear(hidden, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, x, pad_mask):
        x = self.norm1(x + self.self_attn(x, x, x, key_padding_mask=pad_mask)[0])
        return self.norm2(x + self.linear2(F.relu(self.linear1(x))))


class _SelfAttention(nn.Module):
    def __init__(self, input_size, args):
        super().__init__()
        d = args["td_sa_d_model"]
        self.linear = nn.Linear(input_size, d)
        self.norm1 = nn.LayerNorm(d)
        self.layers = nn.ModuleList(_SelfAttentionLayer(d, args["td_sa_nhead"], args["td_sa_h"])
                                    for _ in range(args["td_sa_num_layers"]))

    def forward(self, x, pad_mask):  # [B, T, F] -> [B, T, D]
        x = self.norm1(self.linear(x).transpose(0, 1))
        for layer in self.layers:
            x = layer(x, pad_mask)
        return x.transpose(0, 1)


class _TimeDependency(nn.Module):
    def __init__(self, input_size, args):
        super().__init__()
        self.model = _SelfAttention(input_size, args)


class _PoolAttFF(nn.Module):
    """Attention pooling over the valid frames, then a linear output."""

    def __init__(self, d_input, hidden):
        super().__init__()
        self.linear1 = nn.Linear(d_input, hidden)
        self.linear2 = nn.Linear(hidden, 1)
        self.linear3 = nn.Linear(d_input, 1)

    def forward(self, x, pad_mask):  # [B, T, D] -> [B, 1]
        att = self.linear2(F.relu(self.linear1(x))).squeeze(-1).masked_fill(pad_mask, -math.inf)
        return self.linear3(torch.bmm(F.softmax(att, dim=1).unsqueeze(1), x).squeeze(1))


class _Pooling(nn.Module):
    def __init__(self, d_input, hidden):
        super().__init__()
        self.model = _PoolAttFF(d_input, hidden)


class NISQADim(nn.Module):
    """The released NISQA v2.0 network: ``forward(segments [B, T, 1, mels,
    seg], n_wins [B])`` -> [B, 5] (MOS, noisiness, discontinuity,
    colouration, loudness)."""

    def __init__(self, args=None):
        super().__init__()
        args = {**DEFAULT_ARGS, **(args or {})}
        check_supported(args)
        self.cnn = _Framewise(args)
        self.time_dependency = _TimeDependency(self.cnn.model.fan_out, args)
        self.pool_layers = nn.ModuleList(_Pooling(args["td_sa_d_model"], args["pool_att_h"])
                                         for _ in DIMENSIONS)

    def forward(self, segments, n_wins):
        b, t = segments.shape[:2]
        pad_mask = torch.arange(t, device=segments.device)[None, :] >= n_wins[:, None]
        valid = ~pad_mask
        feats = segments.new_zeros(b, t, self.cnn.model.fan_out)
        feats[valid] = self.cnn.model(segments[valid])  # the CNN sees only real windows
        x = self.time_dependency.model(feats, pad_mask)
        return torch.cat([p.model(x, pad_mask) for p in self.pool_layers], dim=1)


def mel_db(wav, fs, args):
    """NISQA's front end: librosa mel magnitude spectrogram (Slaney mel scale
    and norm, Hann window, centred with reflection), in dB clipped 80 dB
    below its peak: [mels, frames]."""
    import warnings

    import librosa

    y = np.asarray(wav, dtype=np.float32)
    with warnings.catch_warnings():
        # at 16 kHz the bands above 8 kHz (fmax 20 kHz) are empty, as in the original on such files
        warnings.filterwarnings("ignore", message="Empty filters detected")
        spec = librosa.feature.melspectrogram(
            y=y, sr=fs, n_fft=args["ms_n_fft"], hop_length=int(fs * args["ms_hop_length"]),
            win_length=int(fs * args["ms_win_length"]), window="hann", center=True, pad_mode="reflect", power=1.0,
            n_mels=args["ms_n_mels"], fmin=0.0, fmax=args["ms_fmax"], htk=False, norm="slaney")
    return librosa.amplitude_to_db(spec, ref=1.0, amin=1e-4, top_db=80.0)


def segments(spec, seg_length, seg_hop, max_segments):
    """[mels, frames] -> windows of ``seg_length`` frames every ``seg_hop``:
    [n, 1, mels, seg_length]."""
    n = spec.shape[1] - (seg_length - 1)
    if n < 1:
        raise ValueError(f"too short for NISQA: {spec.shape[1]} frames, {seg_length} needed")
    idx = np.arange(0, n, seg_hop)[:, None] + np.arange(seg_length)[None, :]
    if idx.shape[0] > max_segments:
        raise ValueError(f"too long for NISQA: {idx.shape[0]} windows, the model takes {max_segments}")
    return torch.from_numpy(np.ascontiguousarray(spec[:, idx].transpose(1, 0, 2)[:, None])).float()


def predict(model, args, wav, fs):
    """The five NISQA outputs for one mono signal at ``fs`` Hz (the model's
    ``ms_sr`` when it has one: resampled to it first)."""
    from ..audio import resample

    args = {**DEFAULT_ARGS, **args}
    if args.get("ms_sr") and int(args["ms_sr"]) != int(fs):
        wav, fs = resample(wav, fs, int(args["ms_sr"])), int(args["ms_sr"])
    x = segments(mel_db(wav, fs, args), args["ms_seg_length"], args["ms_seg_hop_length"], args["ms_max_segments"])
    with torch.inference_mode():
        return model(x[None], torch.tensor([x.shape[0]]))[0].double().numpy()


def load(path):
    """(model, args) from a NISQA checkpoint (``{"args", "model_state_dict"}``)."""
    ckp = torch.load(path, map_location="cpu", weights_only=True)
    args = {**DEFAULT_ARGS, **ckp.get("args", {})}
    model = NISQADim(args)
    model.load_state_dict(ckp["model_state_dict"], strict=True)
    return model.eval(), args
