import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))  # tests' own helpers (reference_mamba)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


DATA = os.path.join(os.path.dirname(__file__), "data")


@pytest.fixture
def voicebank_pair():
    """(clean, noisy) float64 arrays of one real VoiceBank-DEMAND utterance."""
    import soundfile as sf

    clean, fs = sf.read(os.path.join(DATA, "voicebank", "clean", "p232_003.wav"))
    noisy, fs2 = sf.read(os.path.join(DATA, "voicebank", "noisy", "p232_003.wav"))
    assert fs == fs2 == 16000
    n = min(len(clean), len(noisy))
    return clean[:n], noisy[:n]
