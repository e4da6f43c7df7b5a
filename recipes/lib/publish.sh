#!/usr/bin/env bash
# Refresh a recipe's committed example results and packed model from its last run:
#
#   recipes/lib/publish.sh mini           # = make publish-demo
#   recipes/lib/publish.sh mini_reverb    # after local/compare.sh
#
# copies exp/<recipe>/{RESULTS*.md, *.png, pretrained/} into recipes/<recipe>/.
# Recipes write only under exp/ and data/, so `make demo` and any run.sh leave
# the git tree clean; this is the one command that changes tracked files, and
# only when asked. The package is replaced in one step (copied beside, then
# renamed), so a failed copy leaves the old one.
set -euo pipefail
root=${PUBLISH_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}   # PUBLISH_ROOT: another checkout (the tests)
recipe=${1:-}
if [ -z "${recipe}" ] || [ "$#" -ne 1 ]; then
    echo "usage: $0 RECIPE   (copies exp/RECIPE/{RESULTS*.md,*.png,pretrained/} into recipes/RECIPE/)" >&2
    exit 1
fi
src=${root}/exp/${recipe}
dst=${root}/recipes/${recipe}
[ -f "${dst}/run.sh" ] || { echo "$0: error: ${dst}: no such recipe" >&2; exit 1; }
[ -d "${src}" ] || { echo "$0: error: ${src}: no such run (run recipes/${recipe}/run.sh first)" >&2; exit 1; }
shopt -s nullglob
results=("${src}"/RESULTS*.md)
[ "${#results[@]}" -gt 0 ] || { echo "$0: error: ${src}: no RESULTS*.md to publish" >&2; exit 1; }
figures=("${src}"/*.png)
cp "${results[@]}" "${figures[@]+"${figures[@]}"}" "${dst}/"
published=("${results[@]##*/}" "${figures[@]+"${figures[@]##*/}"}")
if [ -d "${src}/pretrained" ]; then
    rm -rf "${dst}/pretrained.new"
    cp -r "${src}/pretrained" "${dst}/pretrained.new"
    rm -rf "${dst}/pretrained"
    mv "${dst}/pretrained.new" "${dst}/pretrained"
    published+=(pretrained/)
fi
echo "published into recipes/${recipe}/: ${published[*]}"
