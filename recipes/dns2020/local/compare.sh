#!/usr/bin/env bash
# The SBM comparison on DNS 2020 in one command (recipes/lib/compare_sb.sh):
# SBM in one step, SB-NCSN++ at 1/10/50 steps (ODE and SDE), Mamba-base, each
# scored on every test set with the RTF measured in the same run; one table,
# exp/dns2020/COMPARISON.md. Recipe options go before --, training overrides after it:
#   local/compare.sh                                   # the full run (GPU)
#   local/compare.sh --dns_dir /data/DNS-Challenge -- --number_of_epochs 50
#   local/compare.sh --voicebank_dir /data/VoiceBank-DEMAND \
#       --test_sets "dns2020_no_reverb dns2020_with_reverb dns2020_real voicebank_test"   # + VoiceBank-DEMAND
#   STEPS="1 10" local/compare.sh ...                  # fewer SB-NCSN++ step counts
#   SAMPLERS=sde local/compare.sh ...                  # one SB-NCSN++ sampler (default "ode sde")
#   T_MAX="0.5 0.8" local/compare.sh ...               # + SBM's one step started from t = 0.5 and 0.8
here=$(cd "$(dirname "$0")/.." && pwd)
SETS=${SETS:-"dns2020_no_reverb dns2020_with_reverb dns2020_real"} exec bash "${here}/../lib/compare_sb.sh" "${here}" "$@"
