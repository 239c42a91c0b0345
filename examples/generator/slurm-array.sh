#!/usr/bin/env bash
# One logical run split into JOBS Slurm array tasks: task K generates lumi sections
# K, K+JOBS, K+2*JOBS, ... Together they hold exactly the events of one unsplit run, and
# their digests add up to its digest:
#   sbatch --array=0-9 examples/generator/slurm-array.sh
#   tandem-generator --sum-digests $(awk '/^digest/ {print $2}' gen-*.out)
#SBATCH --job-name=tandem-gen
#SBATCH --output=gen-%a.out
#SBATCH --cpus-per-task=2
#SBATCH --time=01:00:00
set -euo pipefail

JOBS=${SLURM_ARRAY_TASK_COUNT:?submit as an array job: sbatch --array=0-9 $0}
K=${SLURM_ARRAY_TASK_ID:?submit as an array job: sbatch --array=0-9 $0}
GENERATOR=${GENERATOR:-tandem-generator}   # path to the release binary
EVENTS=${EVENTS:-1000000}
SEED=${SEED:-2026}

exec "$GENERATOR" --events "$EVENTS" --events-per-lumi 1000 --seed "$SEED" \
    --streams "${SLURM_CPUS_PER_TASK:-1}" --jobs "$JOBS" --job "$K" \
    --hepmc "gen-$K.hepmc"
