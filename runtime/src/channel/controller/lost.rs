//! What the controller reports when its worker is gone: a crash (with its backtrace), a
//! sandbox violation, a resource limit, or a death.

use std::sync::atomic::Ordering;

use super::super::control::IDLE_KIND;
use super::super::error::Syscall;
use super::super::{ChannelError, TransitionLabel};
use super::ControllerChannel;
use crate::crash;
use crate::sandbox;
use crate::sys::process::ExitReason;

impl ControllerChannel {
    pub(super) fn worker_lost(&mut self, label: TransitionLabel) -> ChannelError {
        let pid = self.worker_pid().unwrap_or(0);
        let block = self.block();
        // The crash hook records the signal whether or not a transition was pending (a
        // completed one keeps its outcome), so the signal is what tells a crash.
        let signal = block.crash_signal.load(Ordering::Acquire) as i32;
        let while_idle = block.crash_kind.load(Ordering::Acquire) == IDLE_KIND;
        // Precedence: the first fatal signal the worker's handler claimed is the report, so a
        // crash that came first stays a crash even if its handling then broke the sandbox.
        let recorded = block.violation_syscall.load(Ordering::Acquire);
        if signal == libc::SIGSYS && recorded != 0 {
            let number = i64::from(recorded.wrapping_sub(1) as i32);
            let mut args = [0u64; 6];
            for (arg, slot) in args.iter_mut().zip(&block.violation_args) {
                *arg = slot.load(Ordering::Acquire);
            }
            let syscall = Syscall {
                name: sandbox::syscall_name(number).unwrap_or("unknown"),
                number,
                args,
            };
            return violation(pid, syscall, label, while_idle);
        }
        // A sandboxed worker's SIGSYS without a record (sent with `kill`, or not decodable on
        // this architecture) is still reported against the sandbox, the call unknown.
        if signal == libc::SIGSYS && self.sandbox.is_some() {
            return violation(pid, Syscall::UNKNOWN, label, while_idle);
        }
        if signal != 0 {
            // Copies the capture and the memory map, then lets the parked worker die; the
            // backtrace is unwound and symbolized only when the error is displayed.
            let backtrace = crash::collect(
                &self.crash,
                &self.crash_capture,
                signal,
                self.worker_pid(),
                self.setup_maps.as_ref(),
            );
            return ChannelError::WorkerCrashed {
                pid,
                signal,
                transition: label,
                while_idle,
                stderr_tail: None,
                backtrace,
            };
        }
        let reason = self.worker_status().exit_reason();
        let limit = match reason {
            Some(ExitReason::Signaled(libc::SIGXCPU)) => Some((libc::SIGXCPU, "CPU time")),
            Some(ExitReason::Signaled(libc::SIGXFSZ)) => Some((libc::SIGXFSZ, "file size")),
            _ => None,
        };
        if let Some((signal, limit)) = limit {
            return ChannelError::ResourceLimitExceeded {
                pid,
                limit,
                signal,
                transition: label,
                stderr_tail: None,
            };
        }
        // Dead of SIGSYS without the handler: the worker had blocked or ignored SIGSYS, so the
        // kernel applied the default action at its next refused call.
        if reason == Some(ExitReason::Signaled(libc::SIGSYS)) && self.sandbox.is_some() {
            return violation(pid, Syscall::UNKNOWN, label, false);
        }
        ChannelError::WorkerDied {
            pid,
            reason,
            transition: label,
            stderr_tail: None,
        }
    }
}

/// A [`ChannelError::SandboxViolation`].
fn violation(
    pid: u32,
    syscall: Syscall,
    transition: TransitionLabel,
    while_idle: bool,
) -> ChannelError {
    ChannelError::SandboxViolation {
        pid,
        syscall: Box::new(syscall),
        transition,
        while_idle,
        stderr_tail: None,
    }
}
