"""Loizou's composite measures CSIG / CBAK / COVL and their parts (LLR, WSS, segmental SNR).

As in Hu & Loizou (2008) and the Python ports used by the CMGAN / MP-SENet
evaluation scripts (Loizou, "Speech Enhancement: Theory and Practice",
2nd ed., `composite.m`; CMGAN `src/tools/compute_metrics.py`): 30 ms Hann frames (``0.5 (1 - cos(2 pi
n / (N + 1)))``, n = 1..N) with a quarter-frame hop and ``floor(L / hop -
N / hop)`` frames;

* LLR: LPC order 16 (10 below 10 kHz), ``log(a_p R_c a_p' / a_c R_c a_c')``,
  mean of the lowest 95% of frames;
* WSS: 25 critical bands, spectral slopes weighted with Kmax 20 and Klocmax 1,
  mean of the lowest 95% of frames;
* segmental SNR: per-frame ``10 log10(Es / (En + eps) + eps)`` clipped to
  [-10, 35] dB, mean of all frames;
* CSIG = 3.093 - 1.029 LLR + 0.603 PESQ - 0.009 WSS,
  CBAK = 1.634 + 0.478 PESQ - 0.007 WSS + 0.063 segSNR,
  COVL = 1.594 + 0.805 PESQ - 0.512 LLR - 0.007 WSS, each clipped to [1, 5].

Two modes differ only in the level WSS sees (the other parts are scale
invariant; WSS is too, except for its 1e-10 floor on band energies):

* ``"faithful"``: WSS sees the signal at the level Loizou's MATLAB code sees
  it (``wavread`` floats in [-1, 1], equivalently int16 samples divided by
  32768), and reproduces the reference values;
* ``"paper"``: what the CMGAN / MP-SENet Python scripts compute. Their WSS
  divides every frame by 32768, assuming int16 input, but is fed floats in
  [-1, 1]: the frames are 32768 times too small, many band energies sink to
  the floor, and CSIG / CBAK / COVL come out about 0.08 higher on
  VoiceBank-DEMAND.
"""
import numpy as np

from .intrusive import pesq_score

COMPOSITE_MODES = ("faithful", "paper")
_ALPHA = 0.95
_EPS = np.spacing(1.0)
# critical bands of the WSS measure (Hz)
_CENT_FREQ = np.array([50.0, 120.0, 190.0, 260.0, 330.0, 400.0, 470.0, 540.0, 617.372, 703.378, 798.717,
                       904.128, 1020.38, 1148.30, 1288.72, 1442.54, 1610.70, 1794.16, 1993.93, 2211.08,
                       2446.71, 2701.97, 2978.04, 3276.17, 3597.63])
_BANDWIDTH = np.array([70.0, 70.0, 70.0, 70.0, 70.0, 70.0, 70.0, 77.3724, 86.0056, 95.3398, 105.411,
                       116.256, 127.914, 140.423, 153.823, 168.154, 183.457, 199.776, 217.153, 235.631,
                       255.255, 276.072, 298.126, 321.465, 346.136])


def _round_half_up(x):
    """MATLAB's round (halves away from zero) for the positive counts used here."""
    return int(np.floor(x + 0.5))


def _frames(x, fs):
    """[num_frames, winlength] Hann-windowed 30 ms frames, hop winlength // 4."""
    win = _round_half_up(30 * fs / 1000)
    hop = win // 4
    n = int(len(x) / hop - win / hop)
    if n < 1:
        raise ValueError(f"signal too short for 30 ms frames ({len(x)} samples)")
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    window = 0.5 * (1 - np.cos(2 * np.pi * np.arange(1, win + 1) / (win + 1)))
    return x[idx] * window


def _mean_lowest(values, alpha=_ALPHA):
    """Mean of the lowest ``alpha`` share. NaN frames sort last (MATLAB's sort
    does the same), so up to 5% of undefined frames are dropped, more make NaN."""
    v = np.sort(values)
    return float(np.mean(v[: _round_half_up(len(v) * alpha)]))


def segmental_snr_frames(ref, est, fs=16000):
    """Per-frame segmental SNR in dB, clipped to [-10, 35]."""
    r, e = _frames(ref, fs), _frames(est, fs)
    signal = np.sum(r ** 2, axis=1)
    noise = np.sum((r - e) ** 2, axis=1)
    with np.errstate(divide="ignore"):
        snr = 10 * np.log10(signal / (noise + _EPS) + _EPS)
    return np.clip(snr, -10.0, 35.0)


def segmental_snr(ref, est, fs=16000):
    """Mean segmental SNR (dB) of ``est`` against ``ref``."""
    return float(np.mean(segmental_snr_frames(_f64(ref), _f64(est), fs)))


def _lpc(frames, order):
    """Autocorrelations [n, order+1] and LPC polynomials [n, order+1] (a0 = 1), Levinson-Durbin."""
    n, win = frames.shape
    r = np.stack([np.sum(frames[:, : win - k] * frames[:, k:], axis=1) for k in range(order + 1)], axis=1)
    a = np.zeros((n, order + 1))
    a[:, 0] = 1.0
    err = r[:, 0].copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(1, order + 1):
            # reflection coefficient of the predictor x[t] ~ sum_j c_j x[t-j], with a = [1, -c]
            k = (r[:, i] + np.sum(a[:, 1:i] * r[:, i - 1:0:-1], axis=1)) / err
            prev = a[:, 1:i].copy()
            a[:, 1:i] = prev - k[:, None] * prev[:, ::-1]
            a[:, i] = -k
            err = (1 - k * k) * err
    return r, a


def llr_frames(ref, est, fs=16000):
    """Per-frame log-likelihood ratio of the estimate's LPC model under the reference."""
    order = 10 if fs < 10000 else 16
    r_ref, a_ref = _lpc(_frames(ref, fs), order)
    _, a_est = _lpc(_frames(est, fs), order)
    # quadratic forms a R a' with the reference's Toeplitz autocorrelation matrix
    idx = np.abs(np.arange(order + 1)[:, None] - np.arange(order + 1)[None, :])
    toeplitz = r_ref[:, idx]
    num = np.einsum("ni,nij,nj->n", a_est, toeplitz, a_est)
    den = np.einsum("ni,nij,nj->n", a_ref, toeplitz, a_ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(num / den)


def _crit_filters(fs, n_half):
    max_freq = fs / 2
    j = np.arange(n_half)
    min_factor = np.exp(-30.0 / (2.0 * 2.303))  # -30 dB point of each filter
    f0 = np.floor(_CENT_FREQ / max_freq * n_half)
    bw = _BANDWIDTH / max_freq * n_half
    norm = np.log(_BANDWIDTH[0]) - np.log(_BANDWIDTH)
    filt = np.exp(-11 * ((j[None, :] - f0[:, None]) / bw[:, None]) ** 2 + norm[:, None])
    return np.where(filt > min_factor, filt, 0.0)


def _nearest_peaks(energy, slope):
    """Loizou's peak search per band: the dB value of the nearest spectral peak
    (rightwards while the slope rises, leftwards while it falls), including his
    index convention (the value one band before the stop when searching right)."""
    n_frames, n_slopes = slope.shape
    peaks = np.empty((n_frames, n_slopes))
    rising = slope > 0
    for i in range(n_slopes):
        # right search from i: first n >= i with slope <= 0 (n_slopes if none) -> energy[n - 1]
        stop = np.full(n_frames, n_slopes)
        for n in range(n_slopes - 1, i - 1, -1):
            stop = np.where(~rising[:, n], n, stop)
        right = energy[np.arange(n_frames), stop - 1]
        # left search from i: last n <= i with slope > 0 (-1 if none) -> energy[n + 1]
        start = np.full(n_frames, -1)
        for n in range(0, i + 1):
            start = np.where(rising[:, n], n, start)
        left = energy[np.arange(n_frames), start + 1]
        peaks[:, i] = np.where(rising[:, i], right, left)
    return peaks


def wss_frames(ref, est, fs=16000):
    """Per-frame weighted spectral slope distance (Klatt), Kmax 20, Klocmax 1."""
    r, e = _frames(ref, fs), _frames(est, fs)
    win = r.shape[1]
    n_fft = int(2 ** np.ceil(np.log2(2 * win)))
    n_half = n_fft // 2
    filt = _crit_filters(fs, n_half)
    out = []
    for frames in (r, e):
        power = np.abs(np.fft.fft(frames, n_fft, axis=1)[:, :n_half]) ** 2
        energy = 10 * np.log10(np.maximum(power @ filt.T, 1e-10))
        slope = energy[:, 1:] - energy[:, :-1]
        peaks = _nearest_peaks(energy, slope)
        wmax = 20.0 / (20.0 + energy.max(axis=1, keepdims=True) - energy[:, :-1])
        wloc = 1.0 / (1.0 + peaks - energy[:, :-1])
        out.append((slope, wmax * wloc))
    (s_ref, w_ref), (s_est, w_est) = out
    w = (w_ref + w_est) / 2.0
    return np.sum(w * (s_ref - s_est) ** 2, axis=1) / np.sum(w, axis=1)


def _f64(x):
    return np.asarray(x, dtype=np.float64)


def composite(ref, est, fs=16000, mode="faithful"):
    """dict(csig, cbak, covl, pesq_wb, llr, wss, ssnr, error). Float signals in [-1, 1].

    A failure of PESQ (silent reference, too short, all-zero estimate) makes
    the composite measures NaN with the reason in ``error``; so does, in
    ``"paper"`` mode, a reference with more than 5% digitally silent frames
    (LLR undefined there, as in the CMGAN / MP-SENet scripts; ``"faithful"``
    adds composite.m's eps and scores them).
    """
    if mode not in COMPOSITE_MODES:
        raise ValueError(f"composite mode must be one of {COMPOSITE_MODES}, got {mode!r}")
    ref, est = _f64(ref), _f64(est)
    n = min(len(ref), len(est))
    unequal = len(ref) != len(est)
    ref, est = ref[:n], est[:n]
    pesq, err = pesq_score(ref, est, fs, "wb")  # composite.m runs PESQ on the files themselves
    if mode == "faithful" or unequal:
        # composite.m adds MATLAB's eps (2^-52) to both signals for LLR, WSS and
        # segSNR, so a digitally silent reference frame still has an LPC model;
        # the Python ports add it only when the lengths differ (their
        # indentation), so in "paper" mode such frames give NaN, as theirs do
        ref, est = ref + _EPS, est + _EPS
    scale = 1.0 if mode == "faithful" else 1.0 / 32768.0
    llr = _mean_lowest(llr_frames(ref, est, fs))
    wss = _mean_lowest(wss_frames(ref * scale, est * scale, fs))
    ssnr = float(np.mean(segmental_snr_frames(ref, est, fs)))
    if not np.isfinite(llr):
        # lpcoeff divides by the frame energy: without composite.m's eps, digitally
        # silent reference frames have no LPC model (the Python ports give NaN
        # there too), and CSIG / COVL need LLR
        silent = float(np.mean(~np.any(_frames(ref, fs), axis=1)))
        why = (f"LLR undefined: {silent:.0%} of the reference's 30 ms frames are digital silence "
               "(over the 5% the measure drops); no CSIG/COVL")
        err = f"{err}; {why}" if err else why
    csig = np.clip(3.093 - 1.029 * llr + 0.603 * pesq - 0.009 * wss, 1.0, 5.0)
    cbak = np.clip(1.634 + 0.478 * pesq - 0.007 * wss + 0.063 * ssnr, 1.0, 5.0)
    covl = np.clip(1.594 + 0.805 * pesq - 0.512 * llr - 0.007 * wss, 1.0, 5.0)
    return {"csig": float(csig), "cbak": float(cbak), "covl": float(covl), "pesq_wb": pesq,
            "llr": llr, "wss": wss, "ssnr": ssnr, "error": err}
