#!/usr/bin/env bash
# The SBM comparison on VoiceBank-DEMAND (recipes/lib/compare_sb.sh): SBM in
# one step, SB-NCSN++ at 1/10/50 steps (ODE and SDE) and Mamba-base trained on
# VoiceBank-DEMAND, scored on its test set with the RTF; the VoiceBank row of
# the SBM paper's table, exp/voicebank/COMPARISON.md.
#   local/compare.sh                                   # the full run (GPU)
#   local/compare.sh --download false --corpus_dir /data/VoiceBank-DEMAND -- --number_of_epochs 100
#   STEPS="1 10" T_MAX="0.5" local/compare.sh ...
here=$(cd "$(dirname "$0")/.." && pwd)
SETS=${SETS:-test} exec bash "${here}/../lib/compare_sb.sh" "${here}" "$@"
