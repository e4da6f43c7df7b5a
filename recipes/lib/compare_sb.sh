#!/usr/bin/env bash
# The Schrödinger Bridge Mamba comparison (Yang et al., 2025) for one recipe:
# SBM in one step, SB-NCSN++ at 1/10/50 steps with the ODE and the SDE
# sampler, and Mamba-base (the SBM backbone trained by predictive mapping on
# the same data: SB against predictive training), each enhanced and scored on
# every test set, the real-time factor measured as each set is enhanced; then
# one table, <exp_dir>/COMPARISON.md (se_mamba.recipe.compare).
#   compare_sb.sh RECIPE_DIR [recipe options] [-- training overrides]
# The recipes' local/compare.sh call it with their own test sets (SETS).
# Environment: SETS (default test sets), STEPS ("1 10 50": SB-NCSN++ step
# counts), SAMPLERS ("ode sde": SB-NCSN++ samplers), T_MAX (e.g. "0.5 0.8": SBM's one step started from t < 1, the SBM
# paper's open check), DRY_RUN=1 (print the commands, run nothing).
set -euo pipefail
cd "$1"
shift
root=$(cd ../.. && pwd)
recipe=() train=()
while [ $# -gt 0 ]; do
    case "$1" in
        --) shift; train=("$@"); break ;;
        *) recipe+=("$1"); shift ;;
    esac
done
exp_dir=${root}/exp/$(basename "$(pwd)")
sets=${SETS:-test}
python=
for ((i = 0; i < ${#recipe[@]}; i++)); do
    case "${recipe[$i]}" in
        --exp_dir) exp_dir=${recipe[$((i + 1))]} ;;
        --test_sets) sets=${recipe[$((i + 1))]} ;;
        --python) python=${recipe[$((i + 1))]} ;;
    esac
done
steps=${STEPS:-"1 10 50"}
run() {
    if [ -n "${DRY_RUN:-}" ]; then
        echo "$(pwd)/run.sh --test_sets ${sets} ${recipe[*]+${recipe[*]}} $*"
    else
        ./run.sh --test_sets "${sets}" "${recipe[@]+"${recipe[@]}"}" "$@"
    fi
}
run --model sbm --stage 1 --stop_stage 4 -- "${train[@]+"${train[@]}"}"
run --model mamba_base --stage 2 --stop_stage 4 -- "${train[@]+"${train[@]}"}"
run --model sb_ncsnpp --stage 2 --stop_stage 2 -- "${train[@]+"${train[@]}"}"
systems=("SBM, 1 step=sbm" "Mamba-base (predictive)=mamba_base")
for t in ${T_MAX:-}; do
    run --model sbm --stage 3 --stop_stage 4 --t_max "${t}"
    systems+=("SBM, 1 step from t = ${t}=sbm:_t${t}")
done
for sampler in ${SAMPLERS:-ode sde}; do
    for n in ${steps}; do
        run --model sb_ncsnpp --stage 3 --stop_stage 4 --sb_steps "${n}" --sampler "${sampler}"
        systems+=("SB-NCSN++, ${n} ${sampler^^} step$([ "${n}" = 1 ] || echo s)=sb_ncsnpp:_${sampler}${n}")
    done
done
python=${python:-${root}/.venv/bin/python}
[ -x "${python}" ] || python=python3
export PYTHONPATH="${root}${PYTHONPATH:+:${PYTHONPATH}}"
cmd=("${python}" -m se_mamba.recipe.compare --exp-dir "${exp_dir}" --sets "${sets}"
     --systems "${systems[@]}" --out "${exp_dir}/COMPARISON.md")
if [ -n "${DRY_RUN:-}" ]; then
    printf '%q ' "${cmd[@]}"
    echo
else
    "${cmd[@]}"
fi
