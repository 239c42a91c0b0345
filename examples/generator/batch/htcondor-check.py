#!/usr/bin/env python3
"""Reads htcondor.sub with HTCondor's own Python bindings (PyPI `htcondor`, module
`htcondor2`; no schedd needed) and checks what condor_submit would submit from the
repository root, where the docs say to submit from:

- the queue statement gives one job per task of the split, 0 .. jobs-1, and a rerun
  (`condor_submit 'tasks=3 7' ...`) gives exactly those jobs of the same split;
- each job's expanded arguments carry --jobs <jobs> --job <its task> and its own outputs;
- the executable exists relative to the submit directory (build it first);
- memory and disk are requested; logs carry the cluster id, so reruns keep earlier logs.

Run: python3 examples/generator/batch/htcondor-check.py   (after cargo build --release)
"""

import os
import sys

import htcondor2

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../.."))
SUB = os.path.join(ROOT, "examples/generator/batch/htcondor.sub")


def jobs_of(text, **overrides):
    """(task, expanded arguments) of each job the file queues."""
    submit = htcondor2.Submit(text)
    for key, value in overrides.items():
        submit[key] = value
    queued = []
    items = submit.itemdata()
    if items is None:
        # `queue N`: one job per $(Process), and no way to submit only some of them.
        return submit, None
    for item in items:
        one = htcondor2.Submit(text)
        for key, value in list(overrides.items()) + list(item.items()):
            one[key] = value
        queued.append((item["JOB"], one.expand("arguments")))
    return submit, queued


def main():
    with open(SUB) as handle:
        text = handle.read()
    submit, queued = jobs_of(text)
    if queued is None:
        print(f"htcondor-check: queue statement `{submit.getQArgs()}` gives no task list: "
              "a subset of the split cannot be resubmitted", file=sys.stderr)
        return 1
    jobs = int(submit.expand("jobs"))
    problems = []
    qargs = submit.getQArgs()
    if not qargs.startswith("JOB in "):
        problems.append(f"queue statement `{qargs}`: expected `JOB in (...)`")
    tasks = [task for task, _ in queued]
    if tasks != [str(k) for k in range(jobs)]:
        problems.append(f"queues tasks {tasks}, expected 0..{jobs - 1}")
    for task, arguments in queued:
        words = arguments.split()
        pairs = dict(zip(words[::2], words[1::2]))
        expected = {"--jobs": str(jobs), "--job": task, "--hepmc": f"gen-{task}.hepmc",
                    "--manifest": f"gen-{task}.manifest"}
        for option, value in expected.items():
            if pairs.get(option) != value:
                problems.append(f"job {task}: {option} {pairs.get(option)}, expected {value}")
    _, rerun = jobs_of(text, tasks="3 7")
    if [(task, "--job " + task in arguments) for task, arguments in rerun] != [
        ("3", True), ("7", True)
    ]:
        problems.append(f"a rerun of tasks 3 and 7 queues {rerun}")
    executable = submit.expand("executable")
    if not os.path.isabs(executable):
        executable = os.path.join(ROOT, executable)
    if not os.access(executable, os.X_OK):
        problems.append(f"executable {executable} does not exist (cargo build --release?)")
    for key in ("request_memory", "request_disk", "request_cpus"):
        if not submit.get(key):
            problems.append(f"no {key}")
    for key in ("output", "error"):
        if "$(Cluster)" not in submit.get(key, ""):
            problems.append(f"{key} = {submit.get(key)}: a rerun would overwrite it")
    if problems:
        for problem in problems:
            print(f"htcondor-check: {problem}", file=sys.stderr)
        return 1
    print(f"htcondor-check: {len(queued)} jobs of a split into {jobs}, arguments and "
          f"executable {submit.expand('executable')} (from {ROOT}) as documented; "
          f"reruns by task; memory {submit.get('request_memory')}, disk "
          f"{submit.get('request_disk')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
