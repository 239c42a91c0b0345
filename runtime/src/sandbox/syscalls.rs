//! System call names and numbers of the architecture this crate is built for.
//!
//! The numbers come from the `libc` crate's `SYS_*` constants, which differ per
//! architecture (aarch64 has no `open`, `poll` or `stat`: only their `*at`/`p*` forms), so
//! one table serves every target. It names what a worker's allow-list may hold and what a
//! violation report shows; a number it does not know is reported as `syscall <n>`.

/// The calls of both supported architectures (and of most others).
const COMMON: &[(i64, &str)] = &[
    (libc::SYS_read, "read"),
    (libc::SYS_write, "write"),
    (libc::SYS_readv, "readv"),
    (libc::SYS_writev, "writev"),
    (libc::SYS_pread64, "pread64"),
    (libc::SYS_pwrite64, "pwrite64"),
    (libc::SYS_close, "close"),
    (libc::SYS_fstat, "fstat"),
    (libc::SYS_newfstatat, "newfstatat"),
    (libc::SYS_statx, "statx"),
    (libc::SYS_lseek, "lseek"),
    (libc::SYS_mmap, "mmap"),
    (libc::SYS_munmap, "munmap"),
    (libc::SYS_mremap, "mremap"),
    (libc::SYS_mprotect, "mprotect"),
    (libc::SYS_madvise, "madvise"),
    (libc::SYS_brk, "brk"),
    (libc::SYS_msync, "msync"),
    (libc::SYS_fallocate, "fallocate"),
    (libc::SYS_ftruncate, "ftruncate"),
    (libc::SYS_fcntl, "fcntl"),
    (libc::SYS_futex, "futex"),
    (libc::SYS_sched_yield, "sched_yield"),
    (libc::SYS_sched_getaffinity, "sched_getaffinity"),
    (libc::SYS_sched_setaffinity, "sched_setaffinity"),
    (libc::SYS_getcpu, "getcpu"),
    (libc::SYS_clock_gettime, "clock_gettime"),
    (libc::SYS_clock_getres, "clock_getres"),
    (libc::SYS_gettimeofday, "gettimeofday"),
    (libc::SYS_clock_nanosleep, "clock_nanosleep"),
    (libc::SYS_nanosleep, "nanosleep"),
    (libc::SYS_getrandom, "getrandom"),
    (libc::SYS_rt_sigaction, "rt_sigaction"),
    (libc::SYS_rt_sigprocmask, "rt_sigprocmask"),
    (libc::SYS_rt_sigreturn, "rt_sigreturn"),
    (libc::SYS_sigaltstack, "sigaltstack"),
    (libc::SYS_tgkill, "tgkill"),
    (libc::SYS_tkill, "tkill"),
    (libc::SYS_kill, "kill"),
    (libc::SYS_getpid, "getpid"),
    (libc::SYS_gettid, "gettid"),
    (libc::SYS_getppid, "getppid"),
    (libc::SYS_exit, "exit"),
    (libc::SYS_exit_group, "exit_group"),
    (libc::SYS_restart_syscall, "restart_syscall"),
    (libc::SYS_set_robust_list, "set_robust_list"),
    (libc::SYS_rseq, "rseq"),
    (libc::SYS_prctl, "prctl"),
    (libc::SYS_clone, "clone"),
    (libc::SYS_clone3, "clone3"),
    (libc::SYS_ppoll, "ppoll"),
    (libc::SYS_pselect6, "pselect6"),
    (libc::SYS_prlimit64, "prlimit64"),
    (libc::SYS_membarrier, "membarrier"),
    (libc::SYS_openat, "openat"),
    (libc::SYS_openat2, "openat2"),
    (libc::SYS_execve, "execve"),
    (libc::SYS_execveat, "execveat"),
    (libc::SYS_ptrace, "ptrace"),
    (libc::SYS_socket, "socket"),
    (libc::SYS_socketpair, "socketpair"),
    (libc::SYS_connect, "connect"),
    (libc::SYS_bind, "bind"),
    (libc::SYS_listen, "listen"),
    (libc::SYS_accept, "accept"),
    (libc::SYS_accept4, "accept4"),
    (libc::SYS_sendto, "sendto"),
    (libc::SYS_recvfrom, "recvfrom"),
    (libc::SYS_sendmsg, "sendmsg"),
    (libc::SYS_recvmsg, "recvmsg"),
    (libc::SYS_mount, "mount"),
    (libc::SYS_umount2, "umount2"),
    (libc::SYS_unshare, "unshare"),
    (libc::SYS_setns, "setns"),
    (libc::SYS_bpf, "bpf"),
    (libc::SYS_io_uring_setup, "io_uring_setup"),
    (libc::SYS_io_uring_enter, "io_uring_enter"),
    (libc::SYS_io_uring_register, "io_uring_register"),
    (libc::SYS_seccomp, "seccomp"),
    (libc::SYS_process_vm_readv, "process_vm_readv"),
    (libc::SYS_process_vm_writev, "process_vm_writev"),
    (libc::SYS_perf_event_open, "perf_event_open"),
    (libc::SYS_userfaultfd, "userfaultfd"),
    (libc::SYS_keyctl, "keyctl"),
    (libc::SYS_add_key, "add_key"),
    (libc::SYS_request_key, "request_key"),
    (libc::SYS_chdir, "chdir"),
    (libc::SYS_fchdir, "fchdir"),
    (libc::SYS_mkdirat, "mkdirat"),
    (libc::SYS_unlinkat, "unlinkat"),
    (libc::SYS_renameat, "renameat"),
    (libc::SYS_symlinkat, "symlinkat"),
    (libc::SYS_linkat, "linkat"),
    (libc::SYS_fchmodat, "fchmodat"),
    (libc::SYS_fchownat, "fchownat"),
    (libc::SYS_ioctl, "ioctl"),
    (libc::SYS_dup, "dup"),
    (libc::SYS_dup3, "dup3"),
    (libc::SYS_pipe2, "pipe2"),
    (libc::SYS_eventfd2, "eventfd2"),
    (libc::SYS_memfd_create, "memfd_create"),
    (libc::SYS_pidfd_open, "pidfd_open"),
    (libc::SYS_pidfd_send_signal, "pidfd_send_signal"),
    (libc::SYS_pidfd_getfd, "pidfd_getfd"),
    (libc::SYS_wait4, "wait4"),
    (libc::SYS_waitid, "waitid"),
    (libc::SYS_chroot, "chroot"),
    (libc::SYS_pivot_root, "pivot_root"),
    (libc::SYS_reboot, "reboot"),
    (libc::SYS_init_module, "init_module"),
    (libc::SYS_finit_module, "finit_module"),
    (libc::SYS_delete_module, "delete_module"),
    (libc::SYS_setuid, "setuid"),
    (libc::SYS_setgid, "setgid"),
    (libc::SYS_setresuid, "setresuid"),
    (libc::SYS_setresgid, "setresgid"),
    (libc::SYS_capset, "capset"),
    (libc::SYS_landlock_create_ruleset, "landlock_create_ruleset"),
    (libc::SYS_landlock_add_rule, "landlock_add_rule"),
    (libc::SYS_landlock_restrict_self, "landlock_restrict_self"),
    (libc::SYS_getdents64, "getdents64"),
    (libc::SYS_readlinkat, "readlinkat"),
    (libc::SYS_faccessat, "faccessat"),
    (libc::SYS_statfs, "statfs"),
    (libc::SYS_fstatfs, "fstatfs"),
    (libc::SYS_epoll_create1, "epoll_create1"),
    (libc::SYS_epoll_ctl, "epoll_ctl"),
    (libc::SYS_epoll_pwait, "epoll_pwait"),
    (libc::SYS_timerfd_create, "timerfd_create"),
    (libc::SYS_inotify_init1, "inotify_init1"),
    (libc::SYS_mlock, "mlock"),
    (libc::SYS_munlock, "munlock"),
    (libc::SYS_mincore, "mincore"),
    (libc::SYS_sync, "sync"),
    (libc::SYS_fsync, "fsync"),
    (libc::SYS_fdatasync, "fdatasync"),
    (libc::SYS_truncate, "truncate"),
    (libc::SYS_utimensat, "utimensat"),
    (libc::SYS_getrusage, "getrusage"),
    (libc::SYS_sysinfo, "sysinfo"),
    (libc::SYS_uname, "uname"),
    (libc::SYS_getuid, "getuid"),
    (libc::SYS_geteuid, "geteuid"),
    (libc::SYS_getgid, "getgid"),
    (libc::SYS_getegid, "getegid"),
    (libc::SYS_sched_getparam, "sched_getparam"),
    (libc::SYS_sched_getscheduler, "sched_getscheduler"),
    (libc::SYS_times, "times"),
    (libc::SYS_getcwd, "getcwd"),
];

/// The older calls x86_64 keeps beside their `*at`/`p*` forms.
#[cfg(target_arch = "x86_64")]
const ARCH_ONLY: &[(i64, &str)] = &[
    (libc::SYS_open, "open"),
    (libc::SYS_creat, "creat"),
    (libc::SYS_stat, "stat"),
    (libc::SYS_lstat, "lstat"),
    (libc::SYS_access, "access"),
    (libc::SYS_poll, "poll"),
    (libc::SYS_select, "select"),
    (libc::SYS_pipe, "pipe"),
    (libc::SYS_fork, "fork"),
    (libc::SYS_vfork, "vfork"),
    (libc::SYS_dup2, "dup2"),
    (libc::SYS_readlink, "readlink"),
    (libc::SYS_unlink, "unlink"),
    (libc::SYS_rename, "rename"),
    (libc::SYS_mkdir, "mkdir"),
    (libc::SYS_rmdir, "rmdir"),
    (libc::SYS_chmod, "chmod"),
    (libc::SYS_chown, "chown"),
    (libc::SYS_arch_prctl, "arch_prctl"),
    (libc::SYS_epoll_wait, "epoll_wait"),
    (libc::SYS_epoll_create, "epoll_create"),
    (libc::SYS_eventfd, "eventfd"),
    (libc::SYS_getdents, "getdents"),
    (libc::SYS_time, "time"),
];

#[cfg(not(target_arch = "x86_64"))]
const ARCH_ONLY: &[(i64, &str)] = &[];

/// The number of system call `name` on this architecture, if the table knows it.
pub(crate) fn number(name: &str) -> Option<i64> {
    COMMON
        .iter()
        .chain(ARCH_ONLY)
        .find(|(_, known)| *known == name)
        .map(|(number, _)| *number)
}

/// The name of system call `number` on this architecture, if the table knows it.
pub(crate) fn name(number: i64) -> Option<&'static str> {
    COMMON
        .iter()
        .chain(ARCH_ONLY)
        .find(|(known, _)| *known == number)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::{name, number};

    #[test]
    fn names_and_numbers_round_trip() {
        assert_eq!(number("write"), Some(libc::SYS_write));
        assert_eq!(name(libc::SYS_openat), Some("openat"));
        assert_eq!(number("no_such_call"), None);
        assert_eq!(name(100_000), None);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(number("open"), Some(2));
    }
}
