#!/usr/bin/env bash
# VoiceBank-DEMAND (Valentini-Botinhao et al. 2017): the SEMamba, MP-SENet and
# SBM papers' corpus. Stage 1 downloads the six DataShare zips (5.6 GB),
# extracts them, resamples 48 -> 16 kHz once and writes the manifests.
#   ./run.sh                                          # SEMamba advanced: stages 1-6
#   ./run.sh --model semamba_causal --stage 2
#   ./run.sh --nproc 2 --stage 2                      # 2 GPUs (the original SEMamba run)
#   ./run.sh --valid_set test                         # the original SEMamba protocol (see README)
#   ./run.sh --download false --corpus_dir /data/VoiceBank-DEMAND   # zips or folders already there
# --model: a model of se_mamba.models.list_models(), or semamba_advanced_pcs (SEMamba
# trained and evaluated with PCS); magnitude-phase models train with
# hparams/train/magphase.yaml (--protocol semamba; mpsenet without the consistency
# loss, as MP-SENet), the Schroedinger-bridge models (sbm, sbm_causal, sb_ncsnpp,
# mamba_base) with hparams/train/sb.yaml.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)

recipe_name=voicebank
stage=1
stop_stage=6
model=semamba_advanced
model_name_from_tag=true
hparams=${root}/hparams/train/magphase.yaml
nproc=1
corpus_dir=${root}/corpora/VoiceBank-DEMAND
data_dir=${root}/data/voicebank
exp_dir=${root}/exp/voicebank
python=${root}/.venv/bin/python
[ -x "${python}" ] || python=python3
results=${RESULTS_MD:-}            # empty: <exp>/RESULTS_<test tag>.md
results_asr=${RESULTS_ASR_MD:-}
pretrained_dir=${PRETRAINED_DIR:-${root}/exp/voicebank/pretrained}
asr=whisper:tiny.en     # Whisper tiny.en, bundled (se_mamba.asr.WhisperASR)
composite_mode=paper    # the CMGAN evaluation script's composite measures, as the papers report
download=true
mirror=
valid_set=speakers
workers=${WORKERS:-4}

export PYTHONPATH="${root}${PYTHONPATH:+:${PYTHONPATH}}"

# recipe options, before the stage library's own
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --corpus_dir) corpus_dir="$2"; shift 2 ;;
        --download) download="$2"; shift 2 ;;
        --mirror) mirror="$2"; shift 2 ;;
        --valid_set) valid_set="$2"; shift 2 ;;
        --) args+=("$@"); break ;;
        -h|--help) echo "Recipe options: --corpus_dir DIR (${corpus_dir}) --download true|false (${download})"
                   echo "  --mirror URL (replaces https://datashare.ed.ac.uk) --valid_set speakers|test (${valid_set})"
                   args+=("$1"); shift ;;
        *) args+=("$1"); shift ;;
    esac
done
case "${valid_set}" in
    speakers) ;;
    test) recipe_name="voicebank (validation on the TEST set, the original SEMamba protocol: checkpoint picked on the test set)" ;;
    *) echo "$0: error: --valid_set must be speakers or test, got '${valid_set}'" >&2; exit 1 ;;
esac

recipe_model_setup() {
    train_model_name=${model} train_args=()
    case "${model}" in
        semamba_advanced_pcs) train_model_name=semamba_advanced train_args=(--pcs True) ;;
        mpsenet) train_args=(--consistency_weight 0.0) ;;   # MP-SENet's loss has no consistency term
    esac
    if [ "${hparams_given}" = false ]; then
        case "${train_model_name}" in
            sbm|sbm_causal|sb_ncsnpp|mamba_base) hparams=${root}/hparams/train/sb.yaml ;;
        esac
    fi
}

prepare_data() {
    "${python}" -m se_mamba.data.voicebank --corpus_dir "${corpus_dir}" --data_dir "${data_dir}" \
        --download "${download}" --valid_set "${valid_set}" --workers "${workers}" ${mirror:+--mirror "${mirror}"}
}

. "${root}/recipes/lib/enh.sh"
set -- "${args[@]+"${args[@]}"}"
# training: hparams/train/magphase.yaml at its default protocol, SEMamba's (docs/training.md)
enh_main "$@"
