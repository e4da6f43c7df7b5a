#!/usr/bin/env bash
# DNS Challenge 2020 with reverberation, the Schrödinger Bridge Mamba protocol:
# train on clips synthesised from the DNS 2020 clean speech and noise (joint
# denoising + dereverberation by default), evaluate on the DNS 2020 test sets
# (no_reverb: intrusive + DNSMOS + speaker similarity; with_reverb and real
# recordings: DNSMOS and speaker similarity against the reverberant speech or
# the input, their clean references being reverberant or absent).
# local/compare.sh: the comparison.
#   ./run.sh                                          # SBM: stages 1-6
#   ./run.sh --model sb_ncsnpp --stage 2              # the multi-step baseline (50 ODE steps)
#   ./run.sh --model mamba_base --stage 2             # the same backbone, predictive training
#   ./run.sh --task denoise                           # noise removal only (the target keeps the reverb)
#   ./run.sh --dns_dir /data/DNS-Challenge            # a checkout you have (git lfs pull done)
#   ./run.sh --max_files 2000 --n_train 5000          # a subset of the sources, fewer clips
#   ./run.sh --rir_dir /data/rirs                     # measured RIRs instead of simulated rooms
#   ./run.sh --voicebank_dir /data/VoiceBank-DEMAND \
#       --test_sets "dns2020_no_reverb dns2020_with_reverb dns2020_real voicebank_test"   # + VoiceBank-DEMAND
# --model: sbm, sbm_causal, sb_ncsnpp, mamba_base (hparams/train/sb.yaml), or a
# magnitude-phase model with --hparams hparams/train/magphase.yaml.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)

recipe_name=dns2020
stage=1
stop_stage=6
model=sbm
model_name_from_tag=true
hparams=${root}/hparams/train/sb.yaml
nproc=1
test_sets="dns2020_no_reverb dns2020_with_reverb dns2020_real"
data_dir=${root}/data/dns2020
exp_dir=${root}/exp/dns2020
python=${root}/.venv/bin/python
[ -x "${python}" ] || python=python3
results=${RESULTS_MD:-}
results_asr=${RESULTS_ASR_MD:-}
pretrained_dir=${PRETRAINED_DIR:-}
asr=whisper:tiny.en
# stage 4: the recipe metrics plus speaker similarity (the SBM paper reports it on every set; without a
# clean reference it is measured against the reverberant speech or, for real recordings, the input),
# and the paper's NISQA and SpeechBERTScore where their models are present (else "not available: <why>"
# cells; docs/scoring.md)
score_metrics=pesq_wb,estoi,si_sdr,ssnr,csig,cbak,covl,stoi,spk_sim,speechbertscore,dnsmos_sig,dnsmos_bak,dnsmos_ovrl,dnsmos_p808,nisqa_mos
dns_dir=                # a DNS-Challenge checkout you have; empty: download into dns_corpus_dir
dns_corpus_dir=${root}/corpora/DNS-Challenge
max_files=              # empty: every clean and noise file; N: an even spread of N per folder
mirror=                 # base URL serving /api, /raw and /media like GitHub (see README)
download=true
voicebank_dir=          # VoiceBank-DEMAND (recipes/voicebank's corpus folder): the voicebank_test set
# the synthesis (se_mamba.data.dns_synth; the DNS synthesiser's defaults, reverb ours)
task=joint              # joint: target = direct path + 50 ms of early reflections; denoise: reverberant target
reverb_prob=0.5
rir_dir=                # measured RIRs (wav); empty: pyroomacoustics shoebox rooms, RT60 0.2-1.0 s
n_train=60000           # 30 s clips: 500 h, the DNS synthesiser's total_hours
n_valid=300
clip_seconds=30
synth_seed=1234
workers=${WORKERS:-8}

export PYTHONPATH="${root}${PYTHONPATH:+:${PYTHONPATH}}"

args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --dns_dir) dns_dir="$2"; shift 2 ;;
        --dns_corpus_dir) dns_corpus_dir="$2"; shift 2 ;;
        --max_files) max_files="$2"; shift 2 ;;
        --mirror) mirror="$2"; shift 2 ;;
        --download) download="$2"; shift 2 ;;
        --voicebank_dir) voicebank_dir="$2"; shift 2 ;;
        --task) task="$2"; shift 2 ;;
        --reverb_prob) reverb_prob="$2"; shift 2 ;;
        --rir_dir) rir_dir="$2"; shift 2 ;;
        --n_train) n_train="$2"; shift 2 ;;
        --n_valid) n_valid="$2"; shift 2 ;;
        --clip_seconds) clip_seconds="$2"; shift 2 ;;
        --synth_seed) synth_seed="$2"; shift 2 ;;
        --workers) workers="$2"; shift 2 ;;
        --) args+=("$@"); break ;;
        -h|--help) echo "Recipe options: --dns_dir DIR | --dns_corpus_dir DIR (${dns_corpus_dir}) --max_files N"
                   echo "  --mirror URL --download true|false (${download}) --workers N (${workers})"
                   echo "  --task joint|denoise (${task}) --reverb_prob P (${reverb_prob}) --rir_dir DIR"
                   echo "  --n_train N (${n_train}) --n_valid N (${n_valid}) --clip_seconds S (${clip_seconds})"
                   echo "  --synth_seed N (${synth_seed}) --voicebank_dir DIR (the voicebank_test set)"
                   args+=("$1"); shift ;;
        *) args+=("$1"); shift ;;
    esac
done

recipe_model_setup() {  # training's test-set evaluation: DNS 2020 no_reverb (the set with clean references)
    train_args=(--test_manifest "${data_dir}/dns2020_no_reverb.json")
}

prepare_data() {
    local src=(--corpus_dir "${dns_corpus_dir}" ${max_files:+--max_files "${max_files}"} ${mirror:+--mirror "${mirror}"})
    local tests=(--corpus_dir "${dns_corpus_dir}" --download "${download}" ${mirror:+--mirror "${mirror}"})
    if [ -n "${dns_dir}" ]; then
        src=(--dns_dir "${dns_dir}")
        tests=(--dns_dir "${dns_dir}")
    elif [ "${download}" = false ]; then
        src=(--dns_dir "${dns_corpus_dir}")
    fi
    "${python}" -m se_mamba.data.dns2020 "${tests[@]}" --data_dir "${data_dir}" --workers "${workers}" \
        ${voicebank_dir:+--voicebank_dir "${voicebank_dir}"}
    "${python}" -m se_mamba.data.dns_synth "${src[@]}" --out_dir "${data_dir}" --seed "${synth_seed}" \
        --n_train "${n_train}" --n_valid "${n_valid}" --clip_seconds "${clip_seconds}" --task "${task}" \
        --reverb_prob "${reverb_prob}" ${rir_dir:+--rir_dir "${rir_dir}"} --workers "${workers}"
}

. "${root}/recipes/lib/enh.sh"
set -- "${args[@]+"${args[@]}"}"
enh_main "$@"
