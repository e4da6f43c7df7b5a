#!/usr/bin/env bash
# The Schrödinger Bridge Mamba comparison on DNS 2020 in one command: SBM in one
# step, SB-NCSN++ at 1/10/50 steps with the ODE and the SDE sampler, and
# Mamba-base (the SBM backbone trained by predictive mapping on the same data:
# SB against predictive training), each enhanced and scored on every test set,
# the real-time factor measured as each set is enhanced; then one table,
# exp/dns2020/COMPARISON.md (se_mamba.recipe.compare).
# Recipe options go before --, training overrides after it:
#   local/compare.sh                                   # the full run (GPU)
#   local/compare.sh --dns_dir /data/DNS-Challenge -- --number_of_epochs 50
#   STEPS="1 10" local/compare.sh ...                  # fewer SB-NCSN++ step counts
#   T_MAX="0.5 0.8" local/compare.sh ...               # + SBM's one step started from t = 0.5 and 0.8
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(cd ../.. && pwd)
recipe=() train=()
while [ $# -gt 0 ]; do
    case "$1" in
        --) shift; train=("$@"); break ;;
        *) recipe+=("$1"); shift ;;
    esac
done
exp_dir=${root}/exp/dns2020
sets="dns2020_no_reverb dns2020_with_reverb dns2020_real"   # run.sh's default
for ((i = 0; i < ${#recipe[@]}; i++)); do
    case "${recipe[$i]}" in
        --exp_dir) exp_dir=${recipe[$((i + 1))]} ;;
        --test_sets) sets=${recipe[$((i + 1))]} ;;
        --python) python=${recipe[$((i + 1))]} ;;
    esac
done
steps=${STEPS:-"1 10 50"}
run() { ./run.sh "${recipe[@]+"${recipe[@]}"}" "$@"; }
run --model sbm --stage 1 --stop_stage 4 -- "${train[@]+"${train[@]}"}"
run --model mamba_base --stage 2 --stop_stage 4 -- "${train[@]+"${train[@]}"}"
run --model sb_ncsnpp --stage 2 --stop_stage 2 -- "${train[@]+"${train[@]}"}"
systems=("SBM, 1 step=sbm" "Mamba-base (predictive)=mamba_base")
for t in ${T_MAX:-}; do   # the SBM paper's open check: the one-step model started from t < 1
    run --model sbm --stage 3 --stop_stage 4 --t_max "${t}"
    systems+=("SBM, 1 step from t = ${t}=sbm:_t${t}")
done
for sampler in ode sde; do
    for n in ${steps}; do
        run --model sb_ncsnpp --stage 3 --stop_stage 4 --sb_steps "${n}" --sampler "${sampler}"
        systems+=("SB-NCSN++, ${n} ${sampler^^} step$([ "${n}" = 1 ] || echo s)=sb_ncsnpp:_${sampler}${n}")
    done
done
python=${python:-${root}/.venv/bin/python}
[ -x "${python}" ] || python=python3
export PYTHONPATH="${root}${PYTHONPATH:+:${PYTHONPATH}}"
"${python}" -m se_mamba.recipe.compare --exp-dir "${exp_dir}" --sets "${sets}" \
    --systems "${systems[@]}" --out "${exp_dir}/COMPARISON.md"
