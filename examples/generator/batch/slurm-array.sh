#!/usr/bin/env bash
# One logical run split into JOBS Slurm array tasks: task K generates lumi sections
# K+1, K+1+JOBS, K+1+2*JOBS, ... Together they hold exactly the events of one unsplit run.
#
# Build, then submit from the repository root (the outputs go to the working directory,
# the submit directory unless you pass --chdir):
#   cargo build --release -p tandem-generator
#   sbatch --array=0-9 examples/generator/batch/slurm-array.sh
# JOBS, the number of tasks the run is split into, is fixed below (10) or in the submit
# command (sbatch --export=ALL,JOBS=20 --array=0-19 ...); it never comes from the array
# itself, so any subset of indices can be (re)submitted: sbatch --array=3,7 ... reruns
# tasks 3 and 7 of the same split. A task whose outputs are complete refuses to run again
# unless FORCE=1 is exported.
#
# Combine (checks that every task 0..JOBS-1 finished, exit code included, with no gap,
# overlap or duplicate, and prints the run's digest):
#   examples/generator/batch/combine.sh 10
#
# Each task writes gen-K.hepmc (gen-K.hepmc.partial until complete; about 65 MB per
# 100,000 events generated), gen-K.manifest and its log gen-<array job id>_K.out, so a
# rerun never overwrites an earlier attempt's log.
#SBATCH --job-name=tandem-gen
#SBATCH --output=gen-%A_%a.out
#SBATCH --cpus-per-task=2
#SBATCH --mem=1G
#SBATCH --time=01:00:00
set -euo pipefail

JOBS=${JOBS:-10}
K=${SLURM_ARRAY_TASK_ID:?submit as an array job: sbatch --array=0-$((JOBS - 1)) $0}
if ((K >= JOBS)); then
    echo "error: array index $K is outside the split into JOBS=$JOBS tasks (0-$((JOBS - 1)))" >&2
    exit 2
fi
GENERATOR=${GENERATOR:-${SLURM_SUBMIT_DIR:-.}/target/release/tandem-generator}
if [[ ! -x $GENERATOR ]]; then
    echo "error: no generator at $GENERATOR: build it (cargo build --release -p tandem-generator)" \
        "and submit from the repository root, or export GENERATOR=/path/to/tandem-generator" >&2
    exit 2
fi
EVENTS=${EVENTS:-1000000}
SEED=${SEED:-2026}

exec "$GENERATOR" --events "$EVENTS" --events-per-lumi 1000 --seed "$SEED" \
    --streams "${SLURM_CPUS_PER_TASK:-1}" --jobs "$JOBS" --job "$K" \
    --hepmc "gen-$K.hepmc" --manifest "gen-$K.manifest" --heartbeat 30 \
    ${FORCE:+--force}
