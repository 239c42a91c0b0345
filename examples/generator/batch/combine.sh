#!/usr/bin/env bash
# The combine step of a split run: checks that each of the JOBS tasks left a manifest
# (gen-0.manifest ... gen-<JOBS-1>.manifest in DIR), then lets `tandem-generator merge`
# check that every one is complete with exit code 0 and that together they are exactly one
# run (no gap, overlap or duplicate). Prints the run's digest; exits non-zero, with no
# digest, if anything is missing or wrong, naming the tasks to rerun.
#   examples/generator/batch/combine.sh JOBS [DIR]
set -euo pipefail

JOBS=${1:?usage: $0 JOBS [DIR]}
DIR=${2:-.}
GENERATOR=${GENERATOR:-$(dirname "$0")/../../../target/release/tandem-generator}

manifests=()
missing=()
for ((k = 0; k < JOBS; k++)); do
    manifest="$DIR/gen-$k.manifest"
    if [[ -f $manifest ]]; then
        manifests+=("$manifest")
    else
        missing+=("$k")
    fi
done
if ((${#missing[@]} > 0)); then
    list=$(IFS=,; echo "${missing[*]}")
    echo "error: no manifest from tasks $list (never ran, or killed before the end):" \
        "rerun them, e.g. sbatch --array=$list examples/generator/batch/slurm-array.sh" >&2
    exit 1
fi
exec "$GENERATOR" merge "${manifests[@]}"
