//! Other processes: pidfds, exit statuses, signals, and the parent-death signal.
//!
//! A pidfd becomes readable when its process exits, whoever its parent is, so a thread can
//! sleep in `poll(2)` until a peer dies and learn of it at once, with no polling interval.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::cvt;

/// How a process ended.
///
/// Its `Display` (e.g. "was killed by SIGKILL") lives in the channel layer, which knows the
/// signal names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// It exited with this status.
    Exited(i32),
    /// This signal killed it.
    Signaled(i32),
}

/// A file descriptor referring to one process (`pidfd_open(2)`).
#[derive(Debug)]
pub(crate) struct PidFd {
    fd: OwnedFd,
}

impl PidFd {
    /// Opens a pidfd for `pid`. Fails with `ESRCH` if no such process exists.
    pub(crate) fn open(pid: i32) -> io::Result<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let ret = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
        let raw = i32::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        // SAFETY: the kernel just returned `raw` as a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(PidFd { fd })
    }

    /// A pidfd of this process, to hand to a worker so that it watches this very process
    /// (a pid could be reused once this process is gone; a pidfd cannot). Kept above the
    /// standard streams, close-on-exec until handed over.
    pub(crate) fn of_this_process() -> io::Result<PidFd> {
        let pidfd = PidFd::open(current_pid())?;
        Ok(PidFd {
            fd: super::above_stdio(pidfd.fd)?,
        })
    }

    /// A pidfd of our child `child`, which cannot have been reaped while the caller holds
    /// it (`Child::wait` needs `&mut`), so its pid still names it and nobody else.
    pub(crate) fn of_child(child: &std::process::Child) -> io::Result<PidFd> {
        let pid =
            i32::try_from(child.id()).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
        PidFd::open(pid)
    }

    /// Takes over the pidfd `raw` that the controller handed to this process, after
    /// checking that it is one: open, not yet claimed (close-on-exec cleared by the
    /// controller's spawn), and a pidfd (it accepts `pidfd_send_signal` with signal 0). Sets
    /// close-on-exec again. `Ok(None)` if the process it refers to is gone already.
    pub(crate) fn adopt(raw: RawFd) -> io::Result<Option<PidFd>> {
        if raw < 0 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        // SAFETY: F_GETFD only reads the flags of `raw`; on a closed fd it fails with EBADF.
        let flags = cvt(unsafe { libc::fcntl(raw, libc::F_GETFD) })?;
        if flags & libc::FD_CLOEXEC != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the descriptor was not handed over by a controller, or is already in use",
            ));
        }
        // SAFETY: pidfd_send_signal with signal 0 only checks that `raw` is a pidfd whose
        // process exists and may be signalled; a null siginfo and flags 0 are valid.
        let probe = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                raw,
                0,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        let gone = match cvt(probe) {
            Ok(_) => false,
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => true,
            // Permission to signal it is not needed to watch it.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => false,
            Err(e) => return Err(e),
        };
        // SAFETY: F_SETFD on a valid fd; the flag marks it as claimed (checked above).
        cvt(unsafe { libc::fcntl(raw, libc::F_SETFD, flags | libc::FD_CLOEXEC) })?;
        // SAFETY: `raw` is an open pidfd handed to this process and claimed exactly once
        // (the flag just set makes a second adoption fail).
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok((!gone).then_some(PidFd { fd }))
    }

    /// The descriptor (to hand to a worker).
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Sends SIGKILL to the process, through the pidfd: once the process is gone (even
    /// reaped, and its pid given to another process) the kernel refuses with `ESRCH`, so
    /// no other process can receive it. A process already gone is not an error.
    pub(crate) fn kill(&self) {
        // SAFETY: pidfd_send_signal takes our own open pidfd, a signal number, a null
        // siginfo (the kernel fills a default one) and flags 0; it touches no memory of ours.
        let _ = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }

    /// The process's id as the kernel shows it for this pidfd (`Pid:` in its fdinfo), or
    /// `None` once the process has exited (the kernel shows -1 then).
    pub(crate) fn pid(&self) -> Option<u32> {
        let fdinfo =
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", self.raw_fd())).ok()?;
        let line = fdinfo.lines().find_map(|line| line.strip_prefix("Pid:"))?;
        line.trim()
            .parse::<i64>()
            .ok()
            .and_then(|pid| u32::try_from(pid).ok())
            .filter(|&pid| pid > 0)
    }

    /// The process's resident memory in bytes (`VmRSS` of `/proc/<pid>/status`), read for
    /// the process of this pidfd: the pid is taken from the pidfd before the read and
    /// checked again after it, so the figure is that process's, never that of another
    /// process that took over its pid. `None` if it has exited (or has no such line).
    pub(crate) fn resident_bytes(&self) -> Option<u64> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        if self.pid() != Some(pid) {
            return None;
        }
        let line = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().next()?.parse().ok()?;
        Some(kib * 1024)
    }

    /// Sleeps until the process exits (`Ok(true)`), `cancel` is signalled (`Ok(false)`), or
    /// `timeout` passes (`Ok(false)`).
    pub(crate) fn wait_exit(
        &self,
        cancel: Option<&EventFd>,
        timeout: Option<Duration>,
    ) -> io::Result<bool> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: self.fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: cancel.map_or(-1, |cancel| cancel.fd.as_raw_fd()),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // A whole number of milliseconds, rounded up so that a short wait does not
            // become a busy one; what is left of the time-out after an `EINTR`.
            let timeout_ms = match deadline {
                None => -1,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    libc::c_int::try_from(left.as_nanos().div_ceil(1_000_000))
                        .unwrap_or(libc::c_int::MAX)
                }
            };
            // SAFETY: two valid, writable pollfds; a negative fd (no `cancel`) is ignored by
            // the kernel.
            match cvt(unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) }) {
                Ok(_) => return Ok(fds[0].revents != 0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The exit status of an exited child, without reaping it (`WNOWAIT`), so that whoever
    /// owns the child (e.g. a `std::process::Child`) can still wait for it. `None` if the
    /// process is still running or is not our child.
    pub(crate) fn peek_exit(&self) -> Option<ExitReason> {
        // SAFETY: an all-zero siginfo_t is a valid value for waitid to fill in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable siginfo_t; P_PIDFD takes the fd as its id.
        let ret = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                self.fd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: after a successful waitid the kernel filled si_pid (0 if nothing changed).
        if ret != 0 || unsafe { info.si_pid() } == 0 {
            return None;
        }
        // SAFETY: for a CLD_* code, si_status is valid.
        let status = unsafe { info.si_status() };
        match info.si_code {
            libc::CLD_EXITED => Some(ExitReason::Exited(status)),
            libc::CLD_KILLED | libc::CLD_DUMPED => Some(ExitReason::Signaled(status)),
            _ => None,
        }
    }
}

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A counter fd used to wake a thread sleeping in `poll`.
#[derive(Debug)]
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// A new, unsignalled eventfd.
    pub(crate) fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes an initial value and flags and returns a new fd or -1.
        let raw = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) })?;
        // SAFETY: the kernel just returned `raw` as a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(EventFd { fd })
    }

    /// Makes the fd readable (wakes pollers). Never blocks in practice: the counter would
    /// have to reach 2^64 - 1.
    pub(crate) fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own fd.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

/// This process's id.
pub(crate) fn current_pid() -> i32 {
    std::process::id() as i32
}

/// Ends the process at once with `status`, running no destructors or atexit handlers: for a
/// worker whose controller is gone and whose transition code does not return.
pub(crate) fn exit_immediately(status: i32) -> ! {
    // SAFETY: _exit never returns and is always safe to call.
    unsafe { libc::_exit(status) }
}
