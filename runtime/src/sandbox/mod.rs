//! The worker sandbox: what a worker may still do once its setup is done.
//!
//! # Violations
//! A system call a seccomp filter refuses with `SECCOMP_RET_TRAP` is not run: the kernel
//! raises `SIGSYS`, which the worker's fatal-signal handler (`monitor`) decodes (number,
//! architecture, arguments) into the control block before the process dies of `SIGSYS`. The
//! controller reports [`ChannelError::SandboxViolation`]. What the report says about the
//! call comes from the worker's memory; that the worker died of `SIGSYS` comes from the
//! kernel.
//!
//! [`ChannelError::SandboxViolation`]: crate::ChannelError::SandboxViolation

mod syscalls;

pub(crate) use self::syscalls::name as syscall_name;
