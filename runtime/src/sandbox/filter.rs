//! The seccomp-bpf allow-list of a serving worker, in one readable table, and its
//! compilation (by `seccompiler`) into the two programs the worker installs on all of its
//! threads once its setup is done.
//!
//! # The two programs
//! - **The allow-list**: every call in [`SERVING`] (some with argument checks, see
//!   [`conditional_rules`]) and the user's additions are allowed; anything else is answered
//!   `SECCOMP_RET_TRAP`: the kernel refuses the call and raises `SIGSYS`, whose handler
//!   reports it (see `monitor`). The calls named in [`NEVER`] are refused even when the user
//!   lists them.
//! - **The `clone3` answer**: `clone3` is answered `ENOSYS`, which makes glibc (2.34 and
//!   later) create threads with `clone`, whose flags a filter can check (`clone3` passes
//!   them in memory, out of a filter's reach). A second program is needed because a
//!   `seccompiler` filter has one action for all its matches. The kernel runs every filter and
//!   takes the most severe answer: `TRAP` beats `ERRNO` beats `ALLOW`, so the allow-list allows
//!   `clone3` and this program turns it into `ENOSYS`.
//!
//! The arguments a filter sees are registers: it can check a flag or a signal number, never
//! a path or a buffer (that is Landlock's job, see `landlock.rs`).

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::{syscalls, SandboxError};

/// What a worker calls after its setup, by what calls it. Names missing on an architecture
/// (`poll` on aarch64) are skipped. Derived from tandem's own code (`runtime/src/sys`), from
/// Rust's standard library and from glibc; `docs/sandbox.md` has the reasoning per line.
pub(crate) const SERVING: &[(&str, &[&str])] = &[
    // sys/futex.rs waits and wakes; std's locks and parking; the wait path's CPU checks
    // (sys/sched.rs) and its one `pread` of the /proc/loadavg descriptor opened at setup.
    (
        "channel wait and wake",
        &[
            "futex",
            "sched_yield",
            "sched_getaffinity",
            "getcpu",
            "pread64",
        ],
    ),
    // sys/memfd.rs: the reply buffer grows in place (fallocate, ftruncate) and is remapped
    // (mremap, mmap of a shared descriptor); sizes are read back with fstat.
    (
        "buffer growth",
        &[
            "fallocate",
            "ftruncate",
            "mremap",
            "mmap",
            "munmap",
            "fstat",
            "newfstatat",
            "statx",
            "lseek",
            "fcntl",
        ],
    ),
    // sys/watch.rs: the death watcher sleeps in poll on the controller's pidfd and an
    // eventfd (read and written to wake it); descriptors are closed when a channel drops.
    (
        "controller-death watch",
        &["poll", "ppoll", "read", "write", "close"],
    ),
    // glibc's malloc and its per-thread arenas.
    (
        "memory allocation",
        &["brk", "mmap", "munmap", "mremap", "mprotect", "madvise"],
    ),
    // monitor/handler.rs and Rust's own handlers: the fatal-signal path (raise is
    // rt_sigprocmask + getpid + gettid + tgkill), alternate stacks, the handler's poll on
    // its acknowledgement pipe; the crash capture copies the stack into its segment with
    // pwrite (sys/crash.rs) and waits for the controller on a futex.
    (
        "signals and the crash path",
        &[
            "rt_sigaction",
            "rt_sigprocmask",
            "rt_sigreturn",
            "sigaltstack",
            "tgkill",
            "kill",
            "getpid",
            "gettid",
            "restart_syscall",
            "pwrite64",
        ],
    ),
    // std::time and std::thread::sleep (the vDSO answers most clock reads without a call).
    (
        "time",
        &[
            "clock_gettime",
            "clock_getres",
            "gettimeofday",
            "clock_nanosleep",
            "nanosleep",
        ],
    ),
    // Error messages and panics on stderr; std's RandomState (a decoded HashMap).
    ("output and randomness", &["write", "writev", "getrandom"]),
    // std::thread::spawn through glibc: clone3 (answered ENOSYS, see the module docs), then
    // clone; the new thread registers its robust list and rseq area and takes its name.
    (
        "threads",
        &[
            "clone",
            "clone3",
            "set_robust_list",
            "rseq",
            "prctl",
            "membarrier",
            "sched_getparam",
            "sched_getscheduler",
            "prlimit64",
        ],
    ),
    ("exit", &["exit", "exit_group"]),
];

/// Refused whatever the user adds: they let a worker escape or attack its surroundings
/// (other processes, the kernel, the file system), or undo the sandbox itself.
pub(crate) const NEVER: &[&str] = &[
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "execve",
    "execveat",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "bpf",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "seccomp",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "pidfd_getfd",
];

/// The `clone` flags that create namespaces: a thread may be created, a namespace not.
const NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u64;

/// `prctl` options a serving worker uses: thread names (std), anonymous-mapping names
/// (glibc's malloc, when its tunable asks for them).
const PRCTL_ALLOWED: [u64; 3] = [
    libc::PR_SET_NAME as u64,
    libc::PR_GET_NAME as u64,
    0x5356_4d41, // PR_SET_VMA
];

/// The two compiled programs, allow-list first (see the module docs).
#[derive(Debug)]
pub(crate) struct Programs {
    pub(crate) allow_list: BpfProgram,
    pub(crate) clone3_enosys: BpfProgram,
}

/// Compiles the worker's programs for the running architecture: [`SERVING`] plus `extra`
/// (names), minus [`NEVER`], with argument checks that need this process's id `pid`.
///
/// # Errors
/// [`SandboxError::UnknownSyscall`] for a name the table does not know,
/// [`SandboxError::NeverAllowed`] for a name in [`NEVER`], [`SandboxError::Filter`] if
/// `seccompiler` refuses the program.
pub(crate) fn compile(extra: &[String], pid: i32) -> Result<Programs, SandboxError> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(filter_error)?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for name in SERVING.iter().flat_map(|(_, names)| names.iter()) {
        if let Some(number) = syscalls::number(name) {
            rules.insert(number, Vec::new());
        }
    }
    for name in extra {
        if NEVER.contains(&name.as_str()) {
            return Err(SandboxError::NeverAllowed { name: name.clone() });
        }
        let number = syscalls::number(name)
            .ok_or_else(|| SandboxError::UnknownSyscall { name: name.clone() })?;
        rules.insert(number, Vec::new());
    }
    // Calls allowed only with some arguments: an empty rule list above means "any
    // arguments", so these replace it (unless the user listed the call: then any).
    for (name, conditional) in conditional_rules(pid)? {
        let number = syscalls::number(name).ok_or_else(|| SandboxError::UnknownSyscall {
            name: name.to_owned(),
        })?;
        if !extra.iter().any(|listed| listed == name) {
            rules.insert(number, conditional);
        }
    }
    let allow_list = SeccompFilter::new(rules, SeccompAction::Trap, SeccompAction::Allow, arch)
        .map_err(filter_error)?;
    let clone3 = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
    let clone3_enosys = SeccompFilter::new(
        clone3,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(filter_error)?;
    Ok(Programs {
        allow_list: allow_list.try_into().map_err(filter_error)?,
        clone3_enosys: clone3_enosys.try_into().map_err(filter_error)?,
    })
}

/// The argument checks: each call is allowed when one of its rules holds (a rule holds
/// when all its conditions do).
fn conditional_rules(pid: i32) -> Result<Vec<(&'static str, Vec<SeccompRule>)>, SandboxError> {
    use SeccompCmpArgLen::{Dword, Qword};
    use SeccompCmpOp::{Eq, MaskedEq, Ne};
    let cond = |arg, len, op, value| SeccompCondition::new(arg, len, op, value);
    let rule = |conditions: Vec<Result<SeccompCondition, seccompiler::BackendError>>| {
        let conditions = conditions.into_iter().collect::<Result<Vec<_>, _>>()?;
        SeccompRule::new(conditions)
    };
    let own_pid = u64::from(pid.unsigned_abs());
    let exec = libc::PROT_EXEC as u64;
    let rules = vec![
        // A SIGSYS handler of its own would silence every later violation: only a query
        // (null new action) is allowed for SIGSYS.
        (
            "rt_sigaction",
            vec![
                rule(vec![cond(0, Dword, Ne, libc::SIGSYS as u64)]),
                rule(vec![cond(1, Qword, Eq, 0)]),
            ],
        ),
        // Threads, not namespaces.
        (
            "clone",
            vec![rule(vec![cond(0, Qword, MaskedEq(NAMESPACE_FLAGS), 0)])],
        ),
        // Signals to itself only (raise, the crash path), never to another process.
        ("kill", vec![rule(vec![cond(0, Dword, Eq, own_pid)])]),
        ("tgkill", vec![rule(vec![cond(0, Dword, Eq, own_pid)])]),
        // No new executable memory: code arrives only through exec and the loader.
        ("mmap", vec![rule(vec![cond(2, Dword, MaskedEq(exec), 0)])]),
        (
            "mprotect",
            vec![rule(vec![cond(2, Dword, MaskedEq(exec), 0)])],
        ),
        (
            "prctl",
            PRCTL_ALLOWED
                .iter()
                .map(|&option| rule(vec![cond(0, Dword, Eq, option)]))
                .collect(),
        ),
        // Reading its own limits (glibc's pthread_create), never raising them.
        (
            "prlimit64",
            vec![rule(vec![cond(0, Dword, Eq, 0), cond(2, Qword, Eq, 0)])],
        ),
    ];
    rules
        .into_iter()
        .map(|(name, rules)| {
            let rules = rules.into_iter().collect::<Result<Vec<_>, _>>();
            rules.map(|rules| (name, rules)).map_err(filter_error)
        })
        .collect()
}

fn filter_error(error: impl std::fmt::Display) -> SandboxError {
    SandboxError::Filter {
        detail: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_of_the_policy_is_known_on_x86_64_or_here() {
        for name in NEVER {
            assert!(syscalls::number(name).is_some(), "{name}");
        }
        for (group, names) in SERVING {
            for name in *names {
                let x86_only = ["poll"].contains(name);
                assert!(
                    syscalls::number(name).is_some() || x86_only,
                    "{group}: {name}"
                );
            }
        }
    }

    #[test]
    fn compiles_and_refuses_what_it_must() {
        let programs = compile(&["openat".to_owned()], 1234).expect("a program");
        assert!(!programs.allow_list.is_empty());
        assert!(matches!(
            compile(&["execve".to_owned()], 1),
            Err(SandboxError::NeverAllowed { .. })
        ));
        assert!(matches!(
            compile(&["frobnicate".to_owned()], 1),
            Err(SandboxError::UnknownSyscall { .. })
        ));
    }
}
