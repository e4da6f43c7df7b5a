#!/usr/bin/env bash
# Joint denoising + dereverberation on the mini corpus (every utterance
# reverberant, RT60 0.2-0.8 s, plus noise at -5..20 dB; the target is the
# direct path + early reflections). Trains the SB models on CPU.
#   ./run.sh                                   # SBM small: stages 1-4 (6 packs it)
#   ./run.sh --model sb_ncsnpp --stage 2 --stop_stage 4
#   ./run.sh --model sb_ncsnpp --stage 3 --stop_stage 4 --sb_steps 1
#   ./run.sh --model mamba_base --stage 2 --stop_stage 4
#   local/compare.sh                           # all of the above + RESULTS.md
# --model is one of the rows of hparams/train/mini_sb.yaml (sbm, sbm_causal,
# sb_ncsnpp, mamba_base); the training YAML gets --model_name <model>.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)

recipe_name=mini_reverb
stage=1
stop_stage=4
model=sbm
model_name_from_tag=true
hparams=${root}/hparams/train/mini_sb.yaml
nproc=1
data_dir=${root}/data/mini_reverb
exp_dir=${root}/exp/mini_reverb
python=${root}/.venv/bin/python
[ -x "${python}" ] || python=python3
results=${RESULTS_MD:-}            # empty: <exp>/RESULTS_<test tag>.md
results_asr=${RESULTS_ASR_MD:-}
pretrained_dir=${PRETRAINED_DIR:-}   # empty: <exp_dir>/pretrained (recipes/lib/publish.sh commits it)
asr=whisper:tiny.en     # Whisper tiny.en, bundled (se_mamba.asr.WhisperASR)
n_train=${N_TRAIN:-400}
n_valid=${N_VALID:-24}
n_test=${N_TEST:-40}
corpus_seed=${CORPUS_SEED:-4321}

export PYTHONPATH="${root}${PYTHONPATH:+:${PYTHONPATH}}"

prepare_data() {
    "${python}" "${root}/data_prep/synth_mini.py" --out "${data_dir}" --seed "${corpus_seed}" \
        --n-train "${n_train}" --n-valid "${n_valid}" --n-test "${n_test}" --reverb-prob 1.0 \
        --neural-fraction 0 --eval-neural-fraction 0   # espeak-ng only: the corpus of RESULTS.md
}

. "${root}/recipes/lib/enh.sh"
enh_main "$@"
