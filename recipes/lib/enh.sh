#!/usr/bin/env bash
# Stage library shared by every se_mamba recipe (the shape of ESPnet's enh.sh).
#
# A recipe's run.sh sets its defaults, defines `prepare_data` (stage 1:
# write train/valid/test.json manifests into $data_dir), then sources this
# file and calls `enh_main "$@"`.
#
# Stages (each logged, each idempotent):
#   1 data preparation        prepare_data (recipe-specific)
#   2 training                python -m se_mamba.recipe.train (torchrun when --nproc > 1:
#                             nccl on GPUs, gloo on a machine without CUDA)
#   3 enhancement of test set python -m se_mamba.recipe.enhance (SB models: --sb_steps, --sampler)
#   4 scoring                 python -m se_mamba.recipe.score -> RESULTS.md
#   5 ASR on enhanced speech  python -m se_mamba.recipe.asr -> RESULTS_ASR.md
#   6 packing                 python -m se_mamba.recipe.pack -> pretrained/
#
# Variables a recipe sets before sourcing: recipe_name, stage, stop_stage,
# model, hparams, nproc, data_dir, exp_dir, python, results (RESULTS.md),
# results_asr (RESULTS_ASR.md), pretrained_dir, asr (ASR backend).
# Optional: model_name_from_tag=true (stage 2 gets --model_name <model>, for
# training YAMLs that serve several models); results/results_asr empty = per
# experiment files <exp>/RESULTS_<test tag>.md.
# Optional: sb_steps, sampler (SB models' sampling at stage 3; empty = the model's).
# With either set, stages 3-5 use a test set tag "<set>_<sampler><steps>" so
# several samplings of one model sit side by side.
# Optional: test_sets ("test"): stages 3-5 run on each $data_dir/<set>.json (stages 3
# and 4 take every set in one process, so the model and the scoring workers start once);
# a set whose manifest has no clean references is scored with DNSMOS only.
# Optional: pretrained (--pretrained SRC: a packed folder, hub id or official:NAME):
# stage 2 is skipped and stages 3-5 evaluate SRC (stage 6 has nothing to pack).
# Optional: composite_mode (faithful | paper: the CMGAN script's, which the SEMamba and
# MP-SENet papers report); RESULTS.md shows the published numbers of the model on
# the set where se_mamba.recipe.published knows them.
# Optional: a function `recipe_model_setup` (called after the options are read, with
# hparams_given=true when --hparams was on the command line) that may set hparams,
# train_model_name (the registry name stage 2 trains; default: the model tag) and
# train_args (an array of training overrides the model tag implies, e.g. --pcs True).
# Each stage's output is also kept in <exp>/logs/stage<N>.log.
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') ($(basename "$0"):${BASH_LINENO[0]}) $*"; }

# run_logged FILE CMD...: CMD's stdout and stderr stay apart on the terminal and
# are both appended to FILE; the status is CMD's (pipefail)
run_logged() {
    local file="$1"
    shift
    { { "$@" | tee -a "${file}"; } 2>&1 1>&3 | tee -a "${file}" >&2; } 3>&1
}

enh_usage() {
    cat <<USAGE
Usage: $0 [options] [-- hyperpyyaml overrides]
  --stage N         first stage to run (default ${stage})
  --stop_stage N    last stage to run (default ${stop_stage})
  --model NAME      experiment name / model tag (default ${model})
  --hparams FILE    training HyperPyYAML (default ${hparams})
  --nproc N         training processes (torchrun; CPU uses gloo) (default ${nproc})
  --data_dir DIR    corpus folder (default ${data_dir})
  --exp_dir DIR     experiments folder (default ${exp_dir})
  --python EXE      Python to run (default ${python})
  --asr SPEC        ASR backend of stage 5: whisper:SIZE_OR_PATH | pocketsphinx | speechbrain:SOURCE (default ${asr})
  --sb_steps N      SB models: sampling steps at stage 3 (default: the model's)
  --sampler NAME    SB models: ode | sde (default: the model's)
  --t_max T         SB models: the time sampling starts from (default 1); results under <set>_t<T>
  --test_sets "A B" test sets of stages 3-5 (manifests \$data_dir/<set>.json) (default ${test_sets:-test})
  --pretrained SRC  evaluate SRC (packed folder, hub id, official:NAME) instead of training
  --max_failures N  stage 4: files that may fail scoring (a count, or a share: 0.1, 10%) before the
                    stage fails; their reasons are listed in RESULTS.md either way (default ${max_failures:-0})
  -h, --help        this help
Anything after -- is passed to training as HyperPyYAML overrides, e.g.
  $0 --stage 2 -- --number_of_epochs 5 --batch_size 8
USAGE
}

enh_train() {
    # stage 2: python (or torchrun for --nproc > 1) -m se_mamba.recipe.train
    local exp="$1"
    shift
    local launcher=("${python}") ddp=()
    if [ "${nproc}" -gt 1 ]; then
        launcher=("${python}" -m torch.distributed.run --standalone --nproc_per_node="${nproc}")
        # SpeechBrain's default backend is nccl, which needs GPUs: gloo on a CPU machine
        if ! "${python}" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
            ddp=(--distributed_backend gloo --device cpu)
            log "no CUDA device: ${nproc} CPU processes (gloo)"
        fi
    fi
    local name_arg=()
    [ "${model_name_from_tag:-false}" = true ] && name_arg=(--model_name "${train_model_name:-${model}}")
    "${launcher[@]}" -m se_mamba.recipe.train "${hparams}" --data_folder "${data_dir}" \
        --output_folder "${exp}" "${name_arg[@]+"${name_arg[@]}"}" "${ddp[@]+"${ddp[@]}"}" \
        "${train_args[@]+"${train_args[@]}"}" "$@"
}

enh_main() {
    local overrides=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --stage) stage="$2"; shift 2 ;;
            --stop_stage) stop_stage="$2"; shift 2 ;;
            --model) model="$2"; shift 2 ;;
            --hparams) hparams="$2"; hparams_given=true; shift 2 ;;
            --nproc) nproc="$2"; shift 2 ;;
            --data_dir) data_dir="$2"; shift 2 ;;
            --exp_dir) exp_dir="$2"; shift 2 ;;
            --python) python="$2"; shift 2 ;;
            --asr) asr="$2"; shift 2 ;;
            --sb_steps) sb_steps="$2"; shift 2 ;;
            --sampler) sampler="$2"; shift 2 ;;
            --t_max) t_max="$2"; shift 2 ;;
            --test_sets) test_sets="$2"; shift 2 ;;
            --pretrained) pretrained="$2"; shift 2 ;;
            --max_failures) max_failures="$2"; shift 2 ;;
            -h|--help) enh_usage; exit 0 ;;
            --) shift; overrides=("$@"); break ;;
            *) echo "$0: error: unknown option '$1' (see --help)" >&2; exit 1 ;;
        esac
    done
    test_sets=${test_sets:-test} pretrained=${pretrained:-} hparams_given=${hparams_given:-false}
    if declare -F recipe_model_setup >/dev/null; then
        recipe_model_setup
    fi
    # recipes write under exp/ (and data/) only: the tracked tree changes by
    # recipes/lib/publish.sh, never by a run
    pretrained_dir=${pretrained_dir:-${exp_dir}/pretrained}
    local exp="${exp_dir}/${model}"
    local suffix="" sampling=() source_args=(--exp "${exp}")
    sb_steps=${sb_steps:-} sampler=${sampler:-} t_max=${t_max:-}
    if [ -n "${sb_steps}" ] || [ -n "${sampler}" ]; then
        suffix="_${sampler:-default}${sb_steps:+${sb_steps}}"
        [ -n "${sb_steps}" ] && sampling+=(--sb-steps "${sb_steps}")
        [ -n "${sampler}" ] && sampling+=(--sampler "${sampler}")
    fi
    if [ -n "${t_max}" ]; then
        suffix="${suffix}_t${t_max}"
        sampling+=(--t-max "${t_max}")
    fi
    [ -n "${pretrained}" ] && source_args=(--pretrained "${pretrained}")
    local one_set=false
    [ "$(echo ${test_sets} | wc -w)" -eq 1 ] && one_set=true
    [ -f "${hparams}" ] || { echo "$0: error: ${hparams}: no such hparams file" >&2; exit 1; }
    mkdir -p "${exp}/logs"

    if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
        log "Stage 1: data preparation -> ${data_dir}"
        # training compiles the fused CPU kernels on first use (about 20 s of one
        # core); data preparation leaves a core idle part of the time, so build them now
        local kernel_build=""
        if [ "${stop_stage}" -ge 2 ] && [ -z "${pretrained}" ]; then
            "${python}" -c "from se_mamba.nn.scan_kernel import kernel_status; print(kernel_status())" \
                > "${exp}/logs/kernel_build.log" 2>&1 &
            kernel_build=$!
        fi
        run_logged "${exp}/logs/stage1.log" prepare_data
        if [ -n "${kernel_build}" ]; then
            if wait "${kernel_build}"; then
                log "kernels: $(tail -n 1 "${exp}/logs/kernel_build.log")"
            else
                log "kernel build in the background failed (${exp}/logs/kernel_build.log); training retries it"
            fi
        fi
    fi
    if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
        if [ -n "${pretrained}" ]; then
            log "Stage 2: skipped (--pretrained ${pretrained})"
        else
            log "Stage 2: training ${model} (${hparams}) -> ${exp}"
            run_logged "${exp}/logs/stage2.log" enh_train "${exp}" "${overrides[@]+"${overrides[@]}"}"
        fi
    fi
    local set tag res res_asr title
    # per test set: its tag, results files and title; stages 3 and 4 take all
    # the sets in one process each (the model, the scoring workers and their
    # imports start once), stage 5 one set at a time
    local tags=() manifests=() outs=() enhanced=() score_dirs=() set_results=() set_results_asr=() titles=() published=()
    local asr_titles=()
    for set in ${test_sets}; do
        tag="${set}${suffix}"
        # one test set keeps the recipe's results paths; several get one file each
        res=${results:-${exp}/RESULTS_${tag}.md} res_asr=${results_asr:-${exp}/RESULTS_ASR_${tag}.md}
        title="${recipe_name} / ${model}"
        if [ "${one_set}" = false ]; then
            res=${exp}/RESULTS_${tag}.md res_asr=${exp}/RESULTS_ASR_${tag}.md title="${title} / ${set}"
        fi
        tags+=("${tag}") manifests+=("${data_dir}/${set}.json") outs+=("${exp}/enhanced/${tag}")
        enhanced+=("${exp}/enhanced/${tag}/enhanced.json") score_dirs+=("${exp}/scores/${tag}")
        set_results+=("${res}") set_results_asr+=("${res_asr}")
        titles+=("${title}${sampling[*]+ (${sampling[*]})}") published+=("${recipe_name%% *}:${set}/${model}")
        asr_titles+=("${title}: ASR on enhanced speech")
    done
    if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
        log "Stage 3: enhancing ${test_sets} with ${pretrained:-${exp}} ${sampling[*]+${sampling[*]}}"
        run_logged "${exp}/logs/stage3.log" "${python}" -m se_mamba.recipe.enhance "${source_args[@]}" \
            --manifest "${manifests[@]}" --data-root "${data_dir}" --out "${outs[@]}" \
            "${sampling[@]+"${sampling[@]}"}"
    fi
    if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
        log "Stage 4: scoring noisy and enhanced ${test_sets} -> ${set_results[*]}"
        run_logged "${exp}/logs/stage4.log" "${python}" -m se_mamba.recipe.score \
            --enhanced "${enhanced[@]}" --out-dir "${score_dirs[@]}" --results "${set_results[@]}" \
            --title "${titles[@]}" --composite-mode "${composite_mode:-faithful}" --published "${published[@]}" \
            ${score_metrics:+--metrics "${score_metrics}"} \
            --max-failures "${max_failures:-0}"
    fi
    if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
        local i
        for i in "${!tags[@]}"; do
            log "Stage 5: ASR (${asr}) on noisy, enhanced and clean ${tags[$i]} speech -> ${set_results_asr[$i]}"
            run_logged "${exp}/logs/stage5.log" "${python}" -m se_mamba.recipe.asr \
                --enhanced "${enhanced[$i]}" --out-dir "${exp}/asr/${tags[$i]}" \
                --results "${set_results_asr[$i]}" --asr "${asr}" --title "${asr_titles[$i]}"
        done
    fi
    if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
        if [ -n "${pretrained}" ]; then
            log "Stage 6: skipped (--pretrained: nothing was trained)"
        else
            log "Stage 6: packing ${exp} -> ${pretrained_dir}"
            local tables=() j
            for j in "${!tags[@]}"; do
                tables+=(--results "${set_results[$j]}")
                [ -f "${set_results_asr[$j]}" ] && tables+=(--results "${set_results_asr[$j]}")
            done
            run_logged "${exp}/logs/stage6.log" "${python}" -m se_mamba.recipe.pack --exp "${exp}" \
                --out "${pretrained_dir}" --name "${recipe_name%% *}_${model}" "${tables[@]}"
        fi
    fi
    log "Done (stages ${stage}-${stop_stage})."
}
