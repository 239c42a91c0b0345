//! Handing descriptors to one child process: a channel's to its worker, a standalone
//! buffer's to the process that holds its other end.
//!
//! Every descriptor tandem creates is close-on-exec, so a process spawned by any thread
//! inherits none of them. For the one child that must inherit them, the flag is cleared in
//! that child process only, between `fork` and `exec` (`Command::pre_exec`): pools that spawn
//! workers from several threads at once hand each worker its own descriptors and nothing
//! else. The descriptors keep their numbers, which travel in a token (the channel's, or the
//! buffer's).

use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

use super::cvt;

/// How many descriptors a channel hands over: control block, the two buffers, the
/// controller's pidfd, the crash segment and the doorbell.
pub(crate) const HANDED_FDS: usize = 6;

/// Makes `command`'s process inherit `fds` across its `exec`, and only it. The descriptors
/// must stay open in this process until the command is spawned.
pub(crate) fn inherit_fds<const N: usize>(command: &mut Command, fds: [RawFd; N]) {
    let clear_cloexec = move || -> std::io::Result<()> {
        for fd in fds {
            // SAFETY: fcntl is async-signal-safe; F_GETFD/F_SETFD only read and write the
            // child's own descriptor flags. The closure captures a plain array: no
            // allocation, no lock, as required between fork and exec.
            let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
            // SAFETY: as above.
            cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) })?;
        }
        Ok(())
    };
    // SAFETY: the closure runs in the forked child before exec and does only
    // async-signal-safe work (two fcntl calls per descriptor, see above).
    unsafe {
        command.pre_exec(clear_cloexec);
    }
}
