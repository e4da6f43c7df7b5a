"""The training data pipeline against the originals' formulation (SEMamba
``dataloaders/dataloader_vctk.py``): PCS on the whole clean utterance, the norm
factor of the whole noisy utterance, one crop offset for both; sample-rate and
pairing checks."""
import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from se_mamba.dataio import load_pair, make_dataset
from se_mamba.models.pcs import perceptual_contrast_stretch

DATA = os.path.join(os.path.dirname(__file__), "data", "voicebank")
SEG = 32000


def paths(uid):
    return os.path.join(DATA, "noisy", f"{uid}.wav"), os.path.join(DATA, "clean", f"{uid}.wav")


def official(uid, pcs):
    """The originals' order, written out in numpy: (PCS on the whole clean),
    norm = sqrt(N / sum(noisy^2)) of the whole noisy, both scaled."""
    noisy_p, clean_p = paths(uid)
    noisy, clean = sf.read(noisy_p)[0], sf.read(clean_p)[0]
    if pcs:  # our PCS equals the official PCS400 output (tests/test_models.py)
        clean = perceptual_contrast_stretch(torch.from_numpy(clean)).numpy()
    norm = np.sqrt(len(noisy) / np.sum(noisy ** 2))
    return noisy * norm, clean * norm, norm


def crop_offset(crop, whole):
    """Where ``crop`` sits in ``whole`` (the pipeline draws the offset itself)."""
    starts = [s for s in range(len(whole) - len(crop) + 1) if abs(whole[s] - crop[0]) < 1e-5
              and np.allclose(whole[s: s + 64], crop[:64], atol=1e-5)]
    assert len(starts) == 1, starts
    return starts[0]


@pytest.mark.parametrize("uid", ["p232_003", "p257_008", "p232_170"])
@pytest.mark.parametrize("pcs", [False, True])
def test_training_crop_matches_the_official_formulation(uid, pcs):
    ref_noisy, ref_clean, norm = official(uid, pcs)
    torch.manual_seed(7)
    noisy, clean = load_pair(*paths(uid), segment=SEG, normalisation="rms",
                             target_transform=perceptual_contrast_stretch if pcs else None)
    noisy, clean = noisy.double().numpy(), clean.double().numpy()
    start = crop_offset(noisy, ref_noisy)
    assert np.allclose(noisy, ref_noisy[start: start + SEG], atol=1e-5 * norm)
    assert np.allclose(clean, ref_clean[start: start + SEG], atol=1e-5 * norm)
    # levels: the whole-utterance factor, not the crop's own
    crop_norm = np.sqrt(SEG / np.sum((noisy / norm) ** 2))
    assert abs(np.log(crop_norm / norm)) > 0.01 or uid == "p232_170"
    if pcs:
        # the PCS target keeps the input's scale: its peak is the norm factor
        assert np.abs(ref_clean).max() == pytest.approx(norm, rel=1e-6)
        assert np.abs(clean).max() <= norm * (1 + 1e-6) and np.abs(clean).max() > 0.2 * norm


def test_p232_003_pcs_target_peak_is_the_norm_factor():
    """The case in the issue: PCS applied to the normalised crop put the target's
    peak at 1.0, about 20 dB under the input's scale; the originals' order puts
    it at the whole utterance's norm factor (12.86 here)."""
    _, _, norm = official("p232_003", False)
    _, clean = load_pair(*paths("p232_003"), normalisation="rms", target_transform=perceptual_contrast_stretch)
    assert norm > 10 and float(clean.abs().max()) == pytest.approx(norm, rel=1e-5)


def test_short_utterance_is_zero_padded_after_normalising():
    ref_noisy, _, norm = official("p232_003", False)
    noisy, clean = load_pair(*paths("p232_003"), segment=len(ref_noisy) + 100, normalisation="rms")
    assert torch.all(noisy[-100:] == 0) and torch.all(clean[-100:] == 0)
    assert np.allclose(noisy[:-100].double().numpy(), ref_noisy, atol=1e-5 * norm)


def test_a_file_at_another_rate_is_a_one_line_error(tmp_path):
    noisy_p, clean_p = paths("p232_003")
    x, _ = sf.read(noisy_p)
    bad = tmp_path / "p232_003.wav"
    sf.write(bad, x[::2], 8000)
    with pytest.raises(ValueError, match=r"p232_003\.wav: 8000 Hz, but this recipe trains at sample_rate 16000"):
        load_pair(str(bad), clean_p)
    # through the dataset, as training reads it
    manifest = tmp_path / "train.json"
    manifest.write_text(json.dumps({"u": {"noisy_wav": str(bad), "clean_wav": clean_p, "length": 1.0}}))
    ds = make_dataset(str(manifest), str(tmp_path), segment=SEG)
    with pytest.raises(ValueError, match="8000 Hz"):
        ds[0]
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([x, x], 1), 16000)
    with pytest.raises(ValueError, match="2 channels; training expects mono"):
        load_pair(str(stereo), clean_p)
    short = tmp_path / "short.wav"
    sf.write(short, x[:-10], 16000)
    with pytest.raises(ValueError, match="sample-aligned"):
        load_pair(str(short), clean_p)
