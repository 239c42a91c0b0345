//! The worker sandbox: what a worker may still do once its setup is done.
//!
//! # Threat model
//! The worker applies the sandbox to itself: its setup code is trusted, and a hostile
//! *executable* could simply skip it. The sandbox protects against code that turns hostile
//! after setup (a generator fed hostile input, a library with an exploitable bug), and the
//! controller checks from outside, in `/proc/<pid>/status`, that it is in force before it
//! sends the first transition.
//!
//! # The parts, and who applies them when
//! 1. **At spawn**, in the worker's process between `fork` and `exec` (the controller's
//!    code, `sys::sandbox::confine_at_exec`): `no_new_privs`, the resource limits, and the
//!    Landlock ruleset (`landlock.rs`). Landlock restricts only the calling thread and the
//!    threads it creates later (before Linux 7.0), so it must be in place before the worker
//!    starts any thread: at spawn, the process has one.
//! 2. **After setup**, in the worker (`WorkerChannel::setup_done`): the seccomp-bpf programs
//!    (`filter.rs`), installed on all threads at once (`SECCOMP_FILTER_FLAG_TSYNC`: the
//!    worker's death watcher already runs), before the setup is answered, so setup code may
//!    still read its configuration and start its threads.
//! 3. **Before the first transition**, in the controller: `Seccomp: 2` and `NoNewPrivs: 1` in
//!    the worker's `/proc/<pid>/status`, or [`ChannelError::SandboxNotInForce`].
//!
//! The seccomp part reaches the worker through the environment variable [`SANDBOX_ENV`]
//! (the names of the calls the user added), like the channel token; the other parts need
//! nothing from the worker.
//!
//! # Violations
//! A refused call is answered `SECCOMP_RET_TRAP`: the kernel does not run it and raises
//! `SIGSYS`, which the worker's fatal-signal handler (`monitor`) decodes (number,
//! architecture, arguments) into the control block before the process dies of `SIGSYS`. The
//! controller reports [`ChannelError::SandboxViolation`]. What the report says about the
//! call comes from the worker's memory; that the worker died of `SIGSYS` comes from the
//! kernel.
//!
//! [`ChannelError::SandboxNotInForce`]: crate::ChannelError::SandboxNotInForce
//! [`ChannelError::SandboxViolation`]: crate::ChannelError::SandboxViolation

mod filter;
mod landlock;
mod syscalls;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use thiserror::Error;

use self::landlock::FileSystemRules;
use crate::sys::sandbox::{self as sys, AtExec, Limit, MAX_LIMITS};

pub(crate) use self::syscalls::name as syscall_name;

/// Environment variable through which a spawned worker learns that it must sandbox itself
/// after setup, and which system calls its user added (`v1:` and the names, comma-separated).
pub const SANDBOX_ENV: &str = "TANDEM_SANDBOX";

/// Version prefix of [`SANDBOX_ENV`]'s value.
const SPEC_PREFIX: &str = "v1:";

/// A worker sandbox policy, declared by the controller: set it with
/// [`Options::sandbox`](crate::Options::sandbox) and every worker of that channel (restarts
/// included) runs under it.
///
/// [`Sandbox::new`] is strict: after setup the worker may serve transitions (wait, grow its
/// reply, allocate, start threads, read the clock, write stderr, crash and be reported), and
/// nothing else: no file opened, no socket, no program run, no process traced. Add what the
/// worker's own code needs with [`allow_syscalls`](Self::allow_syscalls) and
/// [`allow_read`](Self::allow_read). See `docs/sandbox.md` for the threat model and the
/// allow-list line by line.
///
/// # Examples
/// ```no_run
/// use std::time::Duration;
/// use tandem::{Options, Sandbox};
///
/// let sandbox = Sandbox::new()
///     .allow_read("/opt/pdfsets") // Landlock: read-only, nothing else of the file system
///     .allow_syscalls(["openat", "lseek"]) // seccomp: the generator reads its tables
///     .cpu_time_limit(Duration::from_secs(600))
///     .data_size_limit(4 << 30);
/// let options = Options::default().sandbox(sandbox);
/// # drop(options);
/// ```
#[derive(Debug, Clone)]
pub struct Sandbox {
    syscalls: Vec<String>,
    read_paths: Vec<PathBuf>,
    file_system_rules: bool,
    cpu_time: Option<Duration>,
    data_bytes: Option<u64>,
    open_files: Option<u64>,
    file_bytes: Option<u64>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox::new()
    }
}

impl Sandbox {
    /// The strict policy: the serving allow-list, no file-system access beyond what the
    /// loader needs, no resource limits.
    pub fn new() -> Sandbox {
        Sandbox {
            syscalls: Vec::new(),
            read_paths: Vec::new(),
            file_system_rules: true,
            cpu_time: None,
            data_bytes: None,
            open_files: None,
            file_bytes: None,
        }
    }

    /// Allows these system calls (by their Linux names, e.g. `"openat"`) after setup too,
    /// with any arguments. Unknown names, and the calls that are always refused (`ptrace`,
    /// `execve`, `mount`, `unshare`, `bpf`, `io_uring_*`, `seccomp`, ...), make the channel's
    /// creation fail with [`SandboxError`].
    pub fn allow_syscalls<I, S>(mut self, names: I) -> Sandbox
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.syscalls.extend(names.into_iter().map(Into::into));
        self
    }

    /// Lets the worker read `path` (a file, or a directory and everything below it) with
    /// Landlock; writing it stays refused. Opening a file also needs `openat` in
    /// [`allow_syscalls`](Self::allow_syscalls) when it happens after setup.
    pub fn allow_read(mut self, path: impl Into<PathBuf>) -> Sandbox {
        self.read_paths.push(path.into());
        self
    }

    /// Leaves the file system to seccomp alone: no Landlock ruleset (e.g. a worker whose
    /// setup reads files all over the system). The default enforces one.
    pub fn without_file_system_rules(mut self) -> Sandbox {
        self.file_system_rules = false;
        self
    }

    /// `RLIMIT_CPU`: CPU time (user + system) the worker may use in its whole life, rounded
    /// up to seconds. Past it the kernel sends `SIGXCPU`, reported as
    /// [`ChannelError::ResourceLimitExceeded`](crate::ChannelError::ResourceLimitExceeded).
    pub fn cpu_time_limit(mut self, limit: Duration) -> Sandbox {
        self.cpu_time = Some(limit);
        self
    }

    /// `RLIMIT_DATA`: bytes of private writable memory (heap, anonymous mappings). Not
    /// `RLIMIT_AS`, which would count the channel's shared buffers. An allocation beyond it
    /// fails; Rust aborts, reported as
    /// [`ChannelError::ResourceLimitExceeded`](crate::ChannelError::ResourceLimitExceeded).
    pub fn data_size_limit(mut self, bytes: u64) -> Sandbox {
        self.data_bytes = Some(bytes);
        self
    }

    /// `RLIMIT_NOFILE`: how many descriptors the worker may hold (the channel holds about
    /// ten). Opening one more fails with `EMFILE` in the worker's own code.
    pub fn open_files_limit(mut self, count: u64) -> Sandbox {
        self.open_files = Some(count);
        self
    }

    /// `RLIMIT_FSIZE`: the largest file the worker may write. Past it the kernel sends
    /// `SIGXFSZ`, reported as
    /// [`ChannelError::ResourceLimitExceeded`](crate::ChannelError::ResourceLimitExceeded).
    pub fn file_size_limit(mut self, bytes: u64) -> Sandbox {
        self.file_bytes = Some(bytes);
        self
    }

    /// The limits to set at spawn. The hard CPU limit is one second above the soft one, so
    /// the worker gets `SIGXCPU` (a limit it can be told about) before `SIGKILL`.
    fn limits(&self) -> [Option<Limit>; MAX_LIMITS] {
        let cpu = self.cpu_time.map(|limit| {
            let seconds = limit.as_secs() + u64::from(limit.subsec_nanos() > 0);
            let seconds = seconds.max(1);
            (libc::RLIMIT_CPU, seconds, seconds + 1)
        });
        let same = |resource, value: Option<u64>| value.map(|v| (resource, v, v));
        [
            cpu,
            same(libc::RLIMIT_DATA, self.data_bytes),
            same(libc::RLIMIT_NOFILE, self.open_files),
            same(libc::RLIMIT_FSIZE, self.file_bytes),
            // A crashing worker leaves no core file behind (it may hold secrets, and fills
            // the disk of a job that crashes often); the controller reports the crash.
            Some((libc::RLIMIT_CORE, 0, 0)),
        ]
    }

    /// Whether a data-size limit is set (the controller then reads an allocation failure as
    /// that limit being hit).
    pub(crate) fn limits_data(&self) -> bool {
        self.data_bytes.is_some()
    }
}

/// How far the kernel enforces a sandbox's Landlock rules.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LandlockEnforcement {
    /// Every rule holds: reading only the listed paths, writing nowhere.
    FullyEnforced,
    /// The kernel's Landlock is older than the rules: some accesses stay unchecked.
    PartiallyEnforced {
        /// The kernel's Landlock ABI version.
        abi: i32,
        /// What stays unchecked.
        missing: &'static str,
    },
    /// No file-system rule holds: the worker reads and writes what its user may (seccomp
    /// still refuses `open` unless it was allowed).
    NotEnforced {
        /// Why.
        reason: &'static str,
    },
    /// The sandbox was built [`without_file_system_rules`](Sandbox::without_file_system_rules).
    Off,
}

impl fmt::Display for LandlockEnforcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LandlockEnforcement::FullyEnforced => f.write_str("fully enforced"),
            LandlockEnforcement::PartiallyEnforced { abi, missing } => {
                write!(f, "partially enforced (Landlock ABI {abi}): {missing}")
            }
            LandlockEnforcement::NotEnforced { reason } => write!(f, "not enforced: {reason}"),
            LandlockEnforcement::Off => f.write_str("off (no file-system rules asked for)"),
        }
    }
}

/// What the controller knows of the sandbox of its current worker.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SandboxStatus {
    /// Whether `/proc/<pid>/status` showed the seccomp filter and `no_new_privs` in force
    /// when the worker completed its setup (always `true` once a transition could run: a
    /// worker without them is refused).
    pub seccomp_verified: bool,
    /// How far the kernel enforces the Landlock rules.
    pub landlock: LandlockEnforcement,
}

/// Errors of the worker sandbox: a policy that cannot be built or installed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// A name given to [`Sandbox::allow_syscalls`] is not a system call of this architecture.
    #[error("`{name}` is not a system call tandem knows on {arch}: check the spelling (Linux names, e.g. `openat`)", arch = std::env::consts::ARCH)]
    UnknownSyscall {
        /// The name given.
        name: String,
    },
    /// A name given to [`Sandbox::allow_syscalls`] is always refused.
    #[error("`{name}` cannot be allowed in a sandbox: it lets a worker escape it or attack its surroundings; do that work in the controller")]
    NeverAllowed {
        /// The name given.
        name: String,
    },
    /// `seccompiler` refused to compile the program.
    #[error("cannot compile the seccomp filter: {detail}")]
    Filter {
        /// Its message.
        detail: String,
    },
    /// A path given to [`Sandbox::allow_read`] does not exist.
    #[error("cannot allow reading `{path}`: {source}", path = path.display())]
    MissingPath {
        /// The path.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: io::Error,
    },
    /// The kernel refused the Landlock ruleset.
    #[error("cannot build the Landlock ruleset: {detail}")]
    Landlock {
        /// The `landlock` crate's message.
        detail: String,
    },
    /// The worker could not install its seccomp filter.
    #[error("cannot install the seccomp filter on all threads ({detail}); a thread with a filter of its own makes TSYNC fail")]
    Install {
        /// `seccompiler`'s message.
        detail: String,
    },
    /// The worker's [`SANDBOX_ENV`] is not one a controller wrote.
    #[error("malformed `{SANDBOX_ENV}` value `{value}`: controller and worker must use the same tandem release")]
    MalformedSpec {
        /// The value found.
        value: String,
    },
}

impl SandboxError {
    /// A copy, for a channel's broken state (see `ChannelError::duplicate`).
    pub(crate) fn duplicate(&self) -> SandboxError {
        use SandboxError as E;
        match self {
            E::UnknownSyscall { name } => E::UnknownSyscall { name: name.clone() },
            E::NeverAllowed { name } => E::NeverAllowed { name: name.clone() },
            E::Filter { detail } => E::Filter {
                detail: detail.clone(),
            },
            E::MissingPath { path, source } => E::MissingPath {
                path: path.clone(),
                source: crate::sys::os_error::duplicate(source),
            },
            E::Landlock { detail } => E::Landlock {
                detail: detail.clone(),
            },
            E::Install { detail } => E::Install {
                detail: detail.clone(),
            },
            E::MalformedSpec { value } => E::MalformedSpec {
                value: value.clone(),
            },
        }
    }
}

/// The controller's side of a sandbox: the policy, its Landlock ruleset (built once per
/// channel), and what each spawned worker is handed.
#[derive(Debug)]
pub(crate) struct Prepared {
    policy: Sandbox,
    file_system: Option<FileSystemRules>,
}

impl Prepared {
    /// Checks the policy (the seccomp program compiles) and builds its Landlock ruleset.
    ///
    /// # Errors
    /// As [`filter::compile`] and `FileSystemRules::build`.
    pub(crate) fn new(policy: &Sandbox) -> Result<Prepared, SandboxError> {
        filter::compile(&policy.syscalls, 1)?;
        let file_system = if policy.file_system_rules {
            Some(FileSystemRules::build(&policy.read_paths)?)
        } else {
            None
        };
        Ok(Prepared {
            policy: policy.clone(),
            file_system,
        })
    }

    /// How far Landlock is enforced.
    pub(crate) fn landlock(&self) -> LandlockEnforcement {
        self.file_system
            .as_ref()
            .map_or(LandlockEnforcement::Off, FileSystemRules::enforcement)
    }

    /// Makes `command` start a sandboxed worker: the spec in its environment, and
    /// `no_new_privs`, limits and Landlock between `fork` and `exec`. This `Prepared` must
    /// live until the command is spawned (it owns the ruleset descriptor).
    pub(crate) fn prepare(&self, command: &mut Command) {
        command.env(
            SANDBOX_ENV,
            format!("{SPEC_PREFIX}{}", self.policy.syscalls.join(",")),
        );
        // Printing a backtrace needs `getcwd` and opening the executable, which the sandbox
        // refuses: with an inherited RUST_BACKTRACE, every panic in a transition (normally a
        // `WorkerFailed` the worker survives) would end as a violation. One set on the
        // command itself is the user's explicit choice and stays.
        for variable in ["RUST_BACKTRACE", "RUST_LIB_BACKTRACE"] {
            if !command.get_envs().any(|(key, _)| key == variable) {
                command.env_remove(variable);
            }
        }
        let landlock_ruleset = self.file_system.as_ref().and_then(|rules| {
            let program = PathBuf::from(command.get_program());
            rules.for_program(&program, command.get_current_dir())
        });
        sys::confine_at_exec(
            command,
            AtExec {
                landlock_ruleset,
                limits: self.policy.limits(),
            },
        );
    }
}

/// The worker's side: the compiled programs, ready to be installed after setup.
#[derive(Debug)]
pub(crate) struct WorkerSandbox {
    programs: filter::Programs,
}

impl WorkerSandbox {
    /// Reads [`SANDBOX_ENV`] (and removes it, so the worker's own children do not see it)
    /// and compiles the programs; `Ok(None)` if the variable is absent.
    ///
    /// # Errors
    /// [`SandboxError::MalformedSpec`], or those of [`filter::compile`].
    pub(crate) fn from_env() -> Result<Option<WorkerSandbox>, SandboxError> {
        let Some(value) = std::env::var_os(SANDBOX_ENV) else {
            return Ok(None);
        };
        std::env::remove_var(SANDBOX_ENV);
        let value = value.to_string_lossy().into_owned();
        let Some(names) = value.strip_prefix(SPEC_PREFIX) else {
            return Err(SandboxError::MalformedSpec { value });
        };
        let names: Vec<String> = names
            .split(',')
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        let pid = crate::sys::process::current_pid();
        Ok(Some(WorkerSandbox {
            programs: filter::compile(&names, pid)?,
        }))
    }

    /// Installs the programs on every thread of this process (`no_new_privs` was set at
    /// spawn; `seccompiler` sets it again). The `clone3` answer first: the allow-list
    /// refuses `seccomp` itself, so it must come last.
    ///
    /// # Errors
    /// [`SandboxError::Install`].
    pub(crate) fn install(&self) -> Result<(), SandboxError> {
        for program in [&self.programs.clone3_enosys, &self.programs.allow_list] {
            seccompiler::apply_filter_all_threads(program).map_err(|error| {
                SandboxError::Install {
                    detail: error.to_string(),
                }
            })?;
        }
        Ok(())
    }
}
