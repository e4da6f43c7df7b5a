#!/usr/bin/env bash
# The SB comparison on the reverberant mini corpus, CPU: trains SBM small,
# SB-NCSN++ small and Mamba-base small (same data, same steps), enhances the
# test set (SBM 1 step; SB-NCSN++ 1 and 10 ODE steps; Mamba-base), scores
# everything and writes one table to exp/mini_reverb/RESULTS.md
# (`recipes/lib/publish.sh mini_reverb` copies it into the recipe folder).
# Extra arguments go to every training (HyperPyYAML overrides), e.g.
#   local/compare.sh --number_of_epochs 4
set -euo pipefail
cd "$(dirname "$0")/.."
run=./run.sh
"${run}" --model sbm --stage 1 --stop_stage 4 -- "$@"
"${run}" --model sb_ncsnpp --stage 2 --stop_stage 4 -- "$@"          # 10 steps (the model's default)
"${run}" --model sb_ncsnpp --stage 3 --stop_stage 4 --sb_steps 1
"${run}" --model mamba_base --stage 2 --stop_stage 4 -- "$@"
"${run}" --model sbm --stage 3 --stop_stage 4 --sb_steps 10          # SBM with more steps, for reference
"${run}" --model sbm --stage 6 --stop_stage 6
root=$(cd ../.. && pwd)
export PYTHONPATH="${root}${PYTHONPATH:+:${PYTHONPATH}}"
python=${root}/.venv/bin/python
[ -x "${python}" ] || python=python3
"${python}" -m se_mamba.recipe.compare --exp-dir "${root}/exp/mini_reverb" --out "${root}/exp/mini_reverb/RESULTS.md" \
    --sets test --systems "SBM, 1 step=sbm" "SBM, 10 ODE steps=sbm:_default10" \
    "SB-NCSN++, 1 step=sb_ncsnpp:_default1" "SB-NCSN++, 10 ODE steps=sb_ncsnpp" "Mamba-base=mamba_base"
