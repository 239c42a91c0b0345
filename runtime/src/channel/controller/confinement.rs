//! The controller's check that a sandboxed worker is confined, from outside.

use super::super::ChannelError;
use super::ControllerChannel;
use crate::sandbox::SandboxStatus;
use crate::sys::sandbox::confinement_of;

impl ControllerChannel {
    /// With a sandbox: checks from outside, in `/proc/<pid>/status`, that the worker that just
    /// completed its setup runs with its seccomp filter and `no_new_privs`. The worker
    /// installs them before it answers, so a worker without them never will.
    pub(super) fn verify_sandbox(&mut self) -> Result<(), ChannelError> {
        self.sandbox_verified = false;
        if self.sandbox.is_none() {
            return Ok(());
        }
        let pid = self.worker_pid().unwrap_or(0);
        let (no_new_privs, seccomp) = confinement_of(pid).map_err(|source| ChannelError::Os {
            operation: "reading the worker's /proc/<pid>/status to verify its sandbox",
            source,
        })?;
        if no_new_privs != Some(1) || seccomp != Some(2) {
            return Err(ChannelError::SandboxNotInForce {
                pid,
                no_new_privs,
                seccomp,
            });
        }
        self.sandbox_verified = true;
        Ok(())
    }

    /// The sandbox of this channel's workers, and how far it is in force for the current
    /// one; `None` without a [`Sandbox`](crate::Sandbox) in the options.
    pub fn sandbox_status(&self) -> Option<SandboxStatus> {
        self.sandbox.as_ref().map(|sandbox| SandboxStatus {
            seccomp_verified: self.sandbox_verified,
            landlock: sandbox.landlock(),
        })
    }
}
