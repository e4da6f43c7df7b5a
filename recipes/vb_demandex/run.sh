#!/usr/bin/env bash
# VB-DemandEx (Kühne et al., MambAttention): train on VB-DemandEx, evaluate in
# domain and across corpora (DNS 2020 no_reverb / with_reverb / real recordings,
# EARS-WHAM_v2 in 10 s chunks), then local/paper_table.py writes Table I.
#   ./run.sh                                              # MambAttention: stages 1-6, every test set
#   ./run.sh --model mambattention_no_sharing --stage 2   # a Table III ablation
#   ./run.sh --model mpsenet --stage 2                    # a baseline (Conformer)
#   ./run.sh --nproc 4 --stage 2                          # 4 GPUs, batch 8 = 2 per GPU (the paper's run)
#   ./run.sh --pretrained official:mambattention_vbdemandex --model official_mambattention --stage 3
#   ./run.sh --dns_dir /data/DNS-Challenge --ears_wham_dir /data/EARS-WHAM_v2_16k   # copies you have
#   ./run.sh --test_sets "test dns2020_no_reverb"         # a subset of the evaluation
# --model: mambattention (default), its ablations mambattention_attn_after,
# mambattention_no_sharing, mambattention_freq_first, semamba_advanced (the Mamba
# baseline = "no MHA"), mpsenet, lstm_attention, lstm_senet; all train with
# hparams/train/magphase.yaml --protocol mambattention (batch 8, 250-step validation).
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)

recipe_name=vb_demandex
stage=1
stop_stage=6
model=mambattention
model_name_from_tag=true
hparams=${root}/hparams/train/magphase.yaml
nproc=1
test_sets="test dns2020_no_reverb dns2020_with_reverb dns2020_real ears_wham_v2"
corpus_dir=${root}/corpora/VB-DemandEx
data_dir=${root}/data/vb_demandex
exp_dir=${root}/exp/vb_demandex
python=${root}/.venv/bin/python
[ -x "${python}" ] || python=python3
results=${RESULTS_MD:-}            # empty: <exp>/RESULTS_<test set>.md
results_asr=${RESULTS_ASR_MD:-}
pretrained_dir=${PRETRAINED_DIR:-${root}/exp/vb_demandex/pretrained}
asr=whisper:tiny.en     # Whisper tiny.en, bundled (se_mamba.asr.WhisperASR)
composite_mode=paper    # MambAttention scores with the CMGAN evaluation script
download=true
hf_endpoint=            # empty: $HF_ENDPOINT or https://huggingface.co
transcripts=            # VoiceBank-DEMAND txt folders, for stage 5 on the VB-DemandEx test set
dns_dir=                # a DNS-Challenge checkout you have; empty: download the test sets
dns_corpus_dir=${root}/corpora/DNS-Challenge
ears_wham_dir=          # an EARS-WHAM_v2 folder you have; empty: generate the test set
ears_corpus_dir=${root}/corpora/EARS
mirror=                 # base URL for the GitHub and release downloads (see README)
workers=${WORKERS:-4}

export PYTHONPATH="${root}${PYTHONPATH:+:${PYTHONPATH}}"

args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --corpus_dir) corpus_dir="$2"; shift 2 ;;
        --download) download="$2"; shift 2 ;;
        --hf_endpoint) hf_endpoint="$2"; shift 2 ;;
        --transcripts) transcripts="$2"; shift 2 ;;
        --dns_dir) dns_dir="$2"; shift 2 ;;
        --dns_corpus_dir) dns_corpus_dir="$2"; shift 2 ;;
        --ears_wham_dir) ears_wham_dir="$2"; shift 2 ;;
        --ears_corpus_dir) ears_corpus_dir="$2"; shift 2 ;;
        --mirror) mirror="$2"; shift 2 ;;
        --) args+=("$@"); break ;;
        -h|--help) echo "Recipe options: --corpus_dir DIR (${corpus_dir}) --download true|false (${download})"
                   echo "  --hf_endpoint URL --transcripts 'DIR ...' (VoiceBank txt folders)"
                   echo "  --dns_dir DIR (a DNS-Challenge copy) | --dns_corpus_dir DIR (${dns_corpus_dir}, download)"
                   echo "  --ears_wham_dir DIR (an EARS-WHAM_v2 copy) | --ears_corpus_dir DIR (${ears_corpus_dir}, generate)"
                   echo "  --mirror URL (GitHub/release downloads)"
                   args+=("$1"); shift ;;
        *) args+=("$1"); shift ;;
    esac
done

recipe_model_setup() {
    train_model_name=${model}
    train_args=(--protocol mambattention)   # batch 8, validation every 250 steps, seed 3441
}

prepare_data() {
    "${python}" -m se_mamba.data.vb_demandex --corpus_dir "${corpus_dir}" --data_dir "${data_dir}" \
        --download "${download}" --workers "${workers}" ${hf_endpoint:+--hf_endpoint "${hf_endpoint}"} \
        ${transcripts:+--transcripts ${transcripts}}
    case " ${test_sets} " in
        *" dns2020_"*)
            if [ -n "${dns_dir}" ]; then
                "${python}" -m se_mamba.data.dns2020 --dns_dir "${dns_dir}" --data_dir "${data_dir}" --workers "${workers}"
            else
                "${python}" -m se_mamba.data.dns2020 --corpus_dir "${dns_corpus_dir}" --data_dir "${data_dir}" \
                    --download "${download}" --workers "${workers}" ${mirror:+--mirror "${mirror}"}
            fi ;;
    esac
    case " ${test_sets} " in
        *" ears_wham_v2 "*)
            if [ -n "${ears_wham_dir}" ]; then
                "${python}" -m se_mamba.data.ears_wham --ears_wham_dir "${ears_wham_dir}" --data_dir "${data_dir}"
            else
                "${python}" -m se_mamba.data.ears_wham --corpus_dir "${ears_corpus_dir}" --data_dir "${data_dir}" \
                    --download "${download}" ${mirror:+--mirror "${mirror}"}
            fi ;;
    esac
}

. "${root}/recipes/lib/enh.sh"
set -- "${args[@]+"${args[@]}"}"
enh_main "$@"
if [ "${stop_stage}" -ge 4 ]; then
    log "Table I: ${exp_dir}/TABLE_I.md"
    "${python}" local/paper_table.py --exp_dir "${exp_dir}" --out "${exp_dir}/TABLE_I.md" > /dev/null
fi
