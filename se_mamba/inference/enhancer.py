"""``MambaEnhancer``: the SpeechBrain ``Pretrained`` interface of every se_mamba model.

    from se_mamba.inference import MambaEnhancer
    enh = MambaEnhancer.from_hparams(source="recipes/mini/pretrained", savedir="pretrained_models/mini")
    enh.enhance_file("noisy.wav", output_filename="enhanced.wav")

``source`` is a packed folder (recipe stage 6) or a Hugging Face repo id
(fetched by SpeechBrain; with no network the error says so in one line).
:meth:`MambaEnhancer.from_model` wraps a registry model or a released
SEMamba / MambAttention / MP-SENet checkpoint file instead.

Audio at any sample rate is resampled to the model's rate and back;
multichannel audio is enhanced channel by channel; long audio is enhanced in
overlapping chunks (``chunk_seconds``, ``overlap_seconds``; see
:mod:`se_mamba.inference.chunking`). The default chunk length is 10 s, and
5 s for models with attention along time, whose memory grows with the
square of the chunk (MambAttention at 30 s: about 70 GB, estimated from its
10 s peak). SB models take ``sb_steps`` / ``sampler``
(defaults from the packed model), and the SDE sampler is seeded, so the
output is deterministic. ``pcs=True`` post-processes with perceptual contrast
stretching (SEMamba "+PCS"). ``stream_block_frames=N`` runs causal models
through :class:`~se_mamba.inference.streaming.StreamingEnhancer` (N frames
per network call, a fixed input gain) instead: what a live stream would give.
"""
import os

import numpy as np
import torch
from speechbrain.inference.interfaces import Pretrained

from ..audio import audio_files, read_audio, resample
from ..fileio import write_audio_atomic
from ..interface import require_enhancement_model
from ..models.pcs import perceptual_contrast_stretch
from .chunking import overlap_add
from .streaming import StreamingEnhancer

# STFT front ends need a few frames; shorter inputs are zero-padded to this and cropped back
MIN_SAMPLES = 1024
# default chunk lengths: linear-memory models, and models with attention along time
# (MambAttention at 10 s whole peaks at 7.8 GB; docs/bench_enhance.md). 10 s, not
# longer: SEMamba advanced on 60 s ran 1.25x faster in 10 s windows than in 30 s
# ones, in a third of the memory (docs/bench_cpu_chunks.md): long windows' activations
# stream through memory, and 1 s of overlap per window costs less than that
CHUNK_SECONDS = 10.0
ATTENTION_CHUNK_SECONDS = 5.0


# output formats chosen by the output file's extension (soundfile format names)
FORMAT_BY_EXTENSION = {".wav": "WAV", ".wave": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG",
                       ".mp3": "MP3", ".aiff": "AIFF", ".aif": "AIFF", ".au": "AU", ".caf": "CAF",
                       ".w64": "W64", ".rf64": "RF64"}


def first_line(exc, limit=160):
    """An exception as one line, cut at a word boundary."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def looks_like_path(source):
    """True for a source that can only be a local path (not ``owner/name``)."""
    return (source.startswith(("/", ".", "~")) or source.endswith("/") or source.count("/") > 1
            or os.sep != "/" and os.sep in source)


def hub_offline():
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def check_hub_source(source, timeout=5.0):
    """Fail fast, in one line, for a source that is neither a folder nor a
    reachable Hugging Face repo: a path that does not exist ("no such
    folder"), a name that is not ``owner/name``, or a hub that cannot be
    reached (offline: instead of huggingface_hub's retries). With
    ``HF_HUB_OFFLINE`` set, the local hub cache decides instead."""
    import re
    import urllib.error
    import urllib.request

    if looks_like_path(source):
        raise ValueError(f"{source}: no such folder")
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", source):
        raise ValueError(f"{source}: no such folder, and not a hub repo id (owner/name)")
    if hub_offline():
        return
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    try:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/api/models/{source}", method="HEAD"),
                               timeout=timeout).close()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise ValueError(f"{source}: no such folder, and no such model on {endpoint}") from None
        # 401/403 (a private or gated repo): huggingface_hub's token may open it
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ValueError(f"{source}: no such folder, and {endpoint} cannot be reached (offline? {reason})") from None


def check_jobs(jobs):
    """``[(input, output)]`` unchanged, or ValueError when two inputs would
    write one output (the second would silently replace the first) or an
    output would replace an input."""
    by_output, inputs = {}, {os.path.realpath(src) for src, _ in jobs}
    for src, dst in jobs:
        by_output.setdefault(os.path.realpath(dst), []).append(src)
    clashes = {dst: srcs for dst, srcs in by_output.items() if len(srcs) > 1}
    if clashes:
        dst, srcs = next(iter(sorted(clashes.items())))
        more = f" (and {len(clashes) - 1} more outputs)" if len(clashes) > 1 else ""
        raise ValueError(f"{dst}: {len(srcs)} inputs would write this one output ({', '.join(srcs[:3])}){more}; "
                         "enhance them into separate output folders")
    for src, dst in jobs:
        if os.path.realpath(dst) in inputs:
            raise ValueError(f"{dst}: refusing to write over an input file")
    return jobs


def output_format(path, info):
    """(format, subtype) for writing ``path``: the format its extension names
    (the input's subtype when that format takes it, else the format's
    default), or the input's format when it has no extension."""
    import soundfile as sf

    ext = os.path.splitext(path)[1].lower()
    if not ext:
        return info.format, info.subtype
    fmt = FORMAT_BY_EXTENSION.get(ext)
    if fmt is None or fmt not in sf.available_formats():
        known = ", ".join(e for e, f in FORMAT_BY_EXTENSION.items() if f in sf.available_formats())
        raise ValueError(f"{path}: cannot write {ext} files (writable: {known})")
    if fmt == info.format or sf.check_format(fmt, info.subtype):
        return fmt, info.subtype
    return fmt, sf.default_subtype(fmt)


class MambaEnhancer(Pretrained):
    """Speech enhancement with a packed se_mamba model.

    Arguments (besides ``Pretrained``'s)
    ---------
    sb_steps, sampler : int, str, optional
        SB models only: sampling steps and sampler; default the model's.
    t_max : float, optional
        SB models only: the time sampling starts from (default 1).
    chunk_seconds, overlap_seconds : float
        Chunked inference above ``chunk_seconds`` (None: always whole;
        "auto": :data:`CHUNK_SECONDS` or, for time-attention models,
        :data:`ATTENTION_CHUNK_SECONDS`).
    seed : int
        Seeds the SDE sampler (per call, so repeated calls agree).
    pcs : bool
        Perceptual contrast stretching of the output (the official PCS400
        map); the output keeps the enhanced signal's peak level.
    mix_noisy : float
        Observation adding: the output is ``(1 - mix_noisy) * enhanced +
        mix_noisy * noisy``, ``0 <= mix_noisy < 1`` (default 0: the enhanced
        signal). Giving back a little of the input masks the enhancer's speech
        distortion, which hurts a recogniser more than the residual noise does
        (Iwamoto et al., Interspeech 2022, "How bad are artifacts?"); the
        measured trade-off on the demo model is in recipes/mini/README.md.
    stream_block_frames : int, optional
        Enhance by streaming (causal models only) with this many STFT frames
        per network call; None: offline (whole or chunked).

    Example
    -------
    >>> from se_mamba.models import build_model
    >>> enh = MambaEnhancer.from_model(build_model("semamba_advanced", channels=4, num_blocks=1))
    >>> enh.enhance_batch(torch.randn(2, 8000)).shape
    torch.Size([2, 8000])
    """

    HPARAMS_NEEDED = ["sample_rate"]
    MODULES_NEEDED = ["model"]

    def __init__(self, *args, sb_steps=None, sampler=None, t_max=None, chunk_seconds="auto", overlap_seconds=1.0,
                 seed=0, pcs=False, stream_block_frames=None, mix_noisy=0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.model = require_enhancement_model(self.mods.model, "MambaEnhancer")
        self.model.eval()
        self.sample_rate = int(self.hparams.sample_rate)
        self.sb_steps, self.sampler, self.seed = sb_steps, sampler, int(seed)
        # the model says which options it takes (EnhancementModel.sampling_options)
        self.t_max = t_max
        self.options = {k: v for k, v in (("steps", None if sb_steps is None else int(sb_steps)),
                                          ("sampler", sampler), ("t_max", t_max)) if v is not None}
        if self.options and not self.model.is_bridge:
            raise ValueError(f"sb_steps/sampler/t_max apply to Schrödinger-bridge models only, "
                             f"not to {type(self.model).__name__}")
        self.model.check_options(self.options)
        if t_max is not None and not 0 < t_max <= 1:
            raise ValueError(f"t_max must be in (0, 1], got {t_max}")
        if chunk_seconds == "auto":
            chunk_seconds = ATTENTION_CHUNK_SECONDS if self.model.attends_over_time else CHUNK_SECONDS
        self.chunk_seconds, self.overlap_seconds = chunk_seconds, overlap_seconds
        self.pcs = bool(pcs)
        self.mix_noisy = float(mix_noisy)
        if not 0.0 <= self.mix_noisy < 1.0:
            raise ValueError(f"mix_noisy must be in [0, 1), got {mix_noisy}")
        if self.pcs and self.sample_rate != 16000:
            raise ValueError(f"PCS is defined at 16 kHz; this model runs at {self.sample_rate} Hz")
        self.stream_block_frames = stream_block_frames
        if stream_block_frames is not None:
            if sb_steps not in (None, 1) or t_max not in (None, 1):
                raise ValueError("streaming runs SB models in one step from t = 1; drop sb_steps/t_max")
            self.streamer(block_frames=stream_block_frames)  # fails now (one line) if the model cannot stream

    def streamer(self, gain=None, block_frames=1):
        """A :class:`StreamingEnhancer` on this model (causal models only)."""
        return StreamingEnhancer(self.model, gain=gain, block_frames=block_frames,
                                 sample_rate=self.sample_rate)

    # ---------------------------------------------------------- construction
    @classmethod
    def from_hparams(cls, source, *args, **kwargs):
        """SpeechBrain's ``from_hparams`` (a packed folder or hub id); also
        ``official:NAME``, an authors' released checkpoint
        (:mod:`se_mamba.models.released`), fetched and packed once.

        A local folder is linked into ``savedir`` afresh on every call:
        SpeechBrain's fetch otherwise keeps what a savedir already holds, and
        a second folder loaded through the same savedir silently gave the
        first folder's weights.
        """
        from speechbrain.utils.fetching import FetchConfig

        from ..models.released import PREFIX, packed_released

        if isinstance(source, str) and source.startswith(PREFIX):
            source = packed_released(source[len(PREFIX):])
        if os.path.isdir(source):
            if not os.path.isfile(os.path.join(source, "hyperparams.yaml")):
                raise ValueError(f"{source}: no hyperparams.yaml (not a packed model folder)")
            kwargs.setdefault("fetch_config", FetchConfig(overwrite=True))
            return super().from_hparams(source, *args, **kwargs)
        check_hub_source(source)
        try:
            return super().from_hparams(source, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - huggingface_hub / requests raise many types
            if hub_offline():
                raise ValueError(f"{source}: not in the local hub cache, and HF_HUB_OFFLINE is set "
                                 "(offline)") from None
            raise ValueError(f"{source}: fetching from the hub failed: {first_line(exc)}") from None

    @classmethod
    def from_model(cls, model, sample_rate=16000, **kwargs):
        """Wrap a model object, a registry name, or a checkpoint file path.

        A path is read as a released official checkpoint (SEMamba /
        MambAttention / MP-SENet generator files, configuration inferred).
        """
        if isinstance(model, str):
            from ..models import build_model, load_official_checkpoint, list_models

            if os.path.exists(model):
                model = load_official_checkpoint(model)
            elif model in list_models():
                model = build_model(model)
            else:
                raise ValueError(f"{model}: neither a checkpoint file nor a registry model name")
        return cls(modules={"model": model}, hparams={"sample_rate": sample_rate}, **kwargs)

    # ------------------------------------------------------------ inference
    def _sampling(self):
        if not self.model.is_bridge:
            return {}
        return {"generator": torch.Generator(self.device).manual_seed(self.seed), **self.options}

    def _enhance_whole(self, wav):
        n = wav.shape[-1]
        if n < MIN_SAMPLES:
            wav = torch.nn.functional.pad(wav, (0, MIN_SAMPLES - n))
        if self.stream_block_frames is not None:
            return self.streamer(block_frames=self.stream_block_frames).enhance(wav)[..., :n]
        return self.model.enhance(wav, **self._sampling())[..., :n]

    def _post(self, out, noisy):
        if self.pcs:
            peak = out.abs().amax(-1, keepdim=True)
            out = perceptual_contrast_stretch(out, normalise_peak=True) * peak
        if self.mix_noisy:
            out = (1.0 - self.mix_noisy) * out + self.mix_noisy * noisy
        return out

    def enhance_batch(self, noisy, lengths=None):
        """Enhance ``[B, N]`` waveforms at the model's rate (relative ``lengths``
        as SpeechBrain batches have them: padding is not fed to the model)."""
        noisy = torch.as_tensor(noisy)
        if noisy.dim() not in (1, 2):
            raise ValueError(f"expected a [N] or [B, N] waveform batch, got shape {list(noisy.shape)}")
        noisy = noisy.to(self.device, torch.float32)
        if noisy.dim() == 1:
            noisy = noisy.unsqueeze(0)
        if not torch.isfinite(noisy).all():
            raise ValueError("audio contains NaN or infinite samples")
        with torch.no_grad():
            if lengths is None:
                return self._post(self._chunked(noisy), noisy)
            n = (lengths * noisy.shape[-1]).round().long().tolist()
            out = torch.zeros_like(noisy)
            for i, ni in enumerate(n):
                out[i, :ni] = self._post(self._chunked(noisy[i:i + 1, :ni]), noisy[i:i + 1, :ni])[0]
            return out

    def _chunked(self, wav):
        if self.chunk_seconds is None or self.stream_block_frames is not None:
            return self._enhance_whole(wav)
        chunk = int(round(self.chunk_seconds * self.sample_rate))
        overlap = int(round(self.overlap_seconds * self.sample_rate))
        return overlap_add(self._enhance_whole, wav, chunk, overlap)

    def enhance_waveform(self, wav, sample_rate):
        """``wav``: numpy/tensor ``[N]`` or ``[N, C]`` (soundfile's layout) at
        ``sample_rate`` -> enhanced array of the same shape and rate."""
        x = np.asarray(wav, dtype=np.float64)
        mono = x.ndim == 1
        x = x[:, None] if mono else x
        if x.shape[0] == 0:
            raise ValueError("empty audio (0 samples)")
        if not np.isfinite(x).all():  # before resampling spreads it
            raise ValueError("audio contains NaN or infinite samples")
        chans = []
        for c in range(x.shape[1]):
            y = resample(x[:, c], sample_rate, self.sample_rate)
            e = self.enhance_batch(torch.from_numpy(y).float().unsqueeze(0))[0].cpu().numpy()
            e = resample(e, self.sample_rate, sample_rate)
            # resampling there and back can differ by a sample: match the input length
            e = np.pad(e, (0, max(0, x.shape[0] - e.size)))[: x.shape[0]]
            chans.append(e)
        out = np.stack(chans, axis=1)
        return out[:, 0] if mono else out

    def enhance_file(self, filename, output_filename=None):
        """Enhance one audio file; write ``output_filename`` (atomically, same
        rate, channels and, where possible, format/subtype) when given.
        Returns the enhanced audio ``[N]`` or ``[N, C]``."""
        return self.load_and_enhance(filename, output_filename)[0]

    def load_and_enhance(self, filename, output_filename=None):
        """:meth:`enhance_file` that also returns the file's sample rate: (audio, rate)."""
        wav, fs, info = read_audio(filename)
        fmt = None
        if output_filename is not None:  # before the work: a bad name fails at once
            fmt = output_format(output_filename, info)
            if os.path.exists(output_filename) and os.path.samefile(output_filename, filename):
                raise ValueError(f"{output_filename}: refusing to write over the input file")
        try:
            out = self.enhance_waveform(wav, fs)
        except ValueError as exc:
            raise ValueError(f"{filename}: {exc}") from None
        if output_filename is not None:
            try:
                write_audio_atomic(output_filename, out, fs, *fmt)
            except (OSError, RuntimeError) as exc:  # soundfile's LibsndfileError is a RuntimeError
                why = getattr(exc, "strerror", None) or first_line(exc)
                raise ValueError(f"{output_filename}: cannot write ({why})") from None
        return out, fs

    def enhance_folder(self, input_dir, output_dir, progress=True):
        """Enhance every audio file under ``input_dir`` (recursively) into
        ``output_dir`` with the same tree. A file that fails does not stop the
        run: returns (enhanced paths, [one-line failure messages], audio seconds)."""
        if not os.path.isdir(input_dir):
            raise ValueError(f"{input_dir}: no such folder")
        jobs = [(p, os.path.join(output_dir, rel)) for p, rel in audio_files(input_dir, exclude=[output_dir])]
        return self.enhance_files(jobs, progress=progress)

    def enhance_files(self, jobs, progress=True):
        """``jobs``: [(input path, output path)]; see :meth:`enhance_folder`.
        Two inputs with one output path are an error before any work."""
        from tqdm import tqdm

        check_jobs(jobs)
        done, failures, seconds = [], [], 0.0
        for src, dst in tqdm(jobs, desc="enhance", unit="file", disable=not progress):
            try:
                out, fs = self.load_and_enhance(src, output_filename=dst)
                seconds += out.shape[0] / fs
                done.append(dst)
            except (ValueError, RuntimeError, OSError) as exc:
                failures.append(first_line(exc, 300))
        return done, failures, seconds

