#!/usr/bin/env bash
# Proves slurm-array.sh and combine.sh on a real Slurm, on this machine: installs Slurm and
# munge from the distribution's packages (apt; run as root), starts a one-node cluster
# (munged as the munge user with a private key and socket, slurmctld and slurmd started
# directly as root, a node line from `slurmd -C`), submits the array job with --wait, and
# checks that:
#   - a task that fails (its output is in the way) makes the combine step refuse;
#   - rerunning that task alone by index (sbatch --array=1) completes the split;
#   - the combined digest equals the digest of the same run as a single job.
# Everything it starts is stopped and everything it made is removed on exit, also on
# failure. Run from anywhere: examples/generator/batch/slurm-check.sh
# SLURM_SCRIPT=path checks another array script the same way (relative to the repository
# root; default examples/generator/batch/slurm-array.sh).
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
started=$SECONDS
SLURM_SCRIPT=${SLURM_SCRIPT:-examples/generator/batch/slurm-array.sh}
JOBS=3
EVENTS=30000
SEED=16

say() { echo "slurm-check: $*"; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
say "building the generator (release)"
cargo build --release --quiet -p tandem-generator
GENERATOR=$ROOT/target/release/tandem-generator

WORK=$(mktemp -d /tmp/tandem-slurm-check.XXXXXX)
chmod 755 "$WORK"
HOST=$(hostname)
added_host=""
cleanup() {
    local status=$?
    set +e
    if [[ -n ${SLURM_CONF:-} ]]; then
        scontrol shutdown >/dev/null 2>&1
    fi
    for pidfile in "$WORK/slurmd.pid" "$WORK/slurmctld.pid" "$WORK/munge/munged.pid"; do
        [[ -s $pidfile ]] || continue
        pid=$(cat "$pidfile")
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            kill "$pid" 2>/dev/null
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    done
    if ((status != 0)); then
        for log in "$WORK"/slurmctld.log "$WORK"/slurmd.log "$WORK"/out/*.out; do
            [[ -f $log ]] && { echo "--- $log"; tail -n 20 "$log"; }
        done
    fi
    if [[ -n $added_host ]]; then
        sed -i "/# tandem-slurm-check$/d" /etc/hosts
    fi
    rm -rf "$WORK"
    say "$([[ $status == 0 ]] && echo passed || echo FAILED) in $((SECONDS - started)) s"
}
trap cleanup EXIT

if ! getent hosts "$HOST" >/dev/null; then
    echo "127.0.0.1 $HOST # tandem-slurm-check" >>/etc/hosts
    added_host=yes
fi

say "starting munged"
mkdir -p "$WORK/munge"
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$WORK/munge"
chmod 700 "$WORK/munge"
chmod 400 "$WORK/munge/munge.key"
runuser -u munge -- munged --force \
    --key-file="$WORK/munge/munge.key" --socket="$WORK/munge/munge.socket" \
    --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munge/munged.log" \
    --seed-file="$WORK/munge/munged.seed"

say "starting slurmctld and slurmd on $HOST"
mkdir -p "$WORK/state" "$WORK/spool" "$WORK/out"
node=$(slurmd -C | head -n 1)
cat >"$WORK/slurm.conf" <<CONF
ClusterName=tandemcheck
SlurmctldHost=$HOST
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$WORK/munge/munge.socket
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
$node State=UNKNOWN
PartitionName=check Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$WORK/slurm.conf
slurmctld -c
slurmd
for ((i = 0; ; i++)); do
    state=$(sinfo -h -n "$HOST" -o %T 2>/dev/null || true)
    [[ $state == idle ]] && break
    if ((i > 300)); then
        say "the node is not idle after 30 s (state: ${state:-unknown})"
        exit 1
    fi
    sleep 0.1
done
say "node $HOST idle after $((SECONDS - started)) s"

submit() {
    # sbatch --wait returns the highest exit code of the array's tasks.
    sbatch --wait --quiet --chdir="$WORK/out" \
        --export="ALL,JOBS=$JOBS,EVENTS=$EVENTS,SEED=$SEED,GENERATOR=$GENERATOR" \
        "$@" "$SLURM_SCRIPT"
}
combine() {
    GENERATOR=$GENERATOR examples/generator/batch/combine.sh "$JOBS" "$WORK/out"
}

say "submitting tasks 0-$((JOBS - 1)), with task 1's output in the way"
echo "an earlier run's file" >"$WORK/out/gen-1.hepmc"
if submit --array=0-$((JOBS - 1)); then
    say "sbatch --wait succeeded although task 1 must fail"
    exit 1
fi
grep -l "refusing to overwrite" "$WORK"/out/gen-*_1.out >/dev/null
if combine >"$WORK/combine.txt" 2>&1; then
    say "the combine step accepted a split with a failed task"
    cat "$WORK/combine.txt"
    exit 1
fi
grep -q "no manifest from tasks 1" "$WORK/combine.txt"
say "combine refused the failed task: $(head -n 1 "$WORK/combine.txt")"

say "rerunning task 1 alone"
rm "$WORK/out/gen-1.hepmc"
submit --array=1
logs=$(ls "$WORK"/out/gen-*_*.out | wc -l)
if ((logs != JOBS + 1)); then
    say "expected $((JOBS + 1)) logs (the rerun in a log of its own), found $logs"
    exit 1
fi
combine | tee "$WORK/combine.txt"
merged=$(awk '$1 == "digest" {print $2}' "$WORK/combine.txt")

say "the same run as one job"
single=$("$GENERATOR" --events "$EVENTS" --events-per-lumi 1000 --seed "$SEED" --streams 2 \
    --heartbeat 0 | awk '$1 == "digest" {print $2}')
if [[ -z $merged || $merged != "$single" ]]; then
    say "digest of the $JOBS tasks ($merged) differs from the single job's ($single)"
    exit 1
fi
for ((k = 0; k < JOBS; k++)); do
    [[ -f $WORK/out/gen-$k.hepmc && ! -e $WORK/out/gen-$k.hepmc.partial ]]
done
say "digest $merged: $JOBS tasks combined = one job"
