//! The worker's side of a crash: its crash segment, adopted at open, and the hook the
//! fatal-signal handler runs to capture the faulting thread and report the crash.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::control::{ControlSegment, Outcome, IDLE_KIND, LAYOUT_VERSION, PEER_GONE};
use super::token::part_label;
use super::wait;
use super::ChannelError;
use crate::buffer::BufferError;
use crate::crash::{segment_len, CrashArea, WorkerCrashArea};
use crate::sys::memfd::{Access, Segment, CONTROL_SEALS};
use crate::sys::signal::SignalFrame;

/// The crash hook's context: the channel's control block, to report the crash, and its
/// crash segment, to capture the faulting thread.
#[derive(Debug)]
pub(super) struct HookTarget {
    pub(super) control: Arc<ControlSegment>,
    pub(super) crash: WorkerCrashArea,
}

/// Adopts the crash segment the controller handed over (sealed like the control block) and
/// reads its settings once.
pub(super) fn open_crash_area(label: &str, fd: i32) -> Result<WorkerCrashArea, ChannelError> {
    let name = part_label(label, "crash");
    let failure = |size, f| ChannelError::from(BufferError::segment(&name, size, f));
    let mut segment =
        Segment::adopt(&name, fd, Access::ReadWrite, CONTROL_SEALS).map_err(|f| failure(0, f))?;
    let found = segment.file_size().map_err(|f| failure(0, f))?;
    let header = segment_len(0);
    let incompatible = || ChannelError::IncompatibleLayout {
        name: name.clone(),
        magic: 0,
        version: 0,
        expected: LAYOUT_VERSION,
    };
    if found < header {
        return Err(incompatible());
    }
    segment.remap(header).map_err(|f| failure(header, f))?;
    let area = CrashArea::new(segment).ok_or_else(incompatible)?;
    if !area.is_compatible() {
        return Err(incompatible());
    }
    let crash = WorkerCrashArea::new(area);
    // The handler writes up to the stack capacity read above: the file must hold it.
    if found < segment_len(crash.stack_capacity() as u32) {
        return Err(incompatible());
    }
    Ok(crash)
}

/// The crash hook, run by the fatal-signal handler before the process dies of the signal:
/// captures the faulting thread into the crash segment (`crash::capture`), records the
/// signal and the transition in progress, then wakes the controller, so that it reports
/// [`ChannelError::WorkerCrashed`] at once, and waits (bounded) until the controller has
/// copied the capture and read this process's memory map. Async-signal-safe: atomic stores,
/// `pwrite`, futex wake and wait; no allocation, no panic path (`block()` cannot fail, see
/// `sys::memfd::SharedView`), no indexing.
pub(super) fn report_crash(target: &HookTarget, signal: i32, frame: SignalFrame<'_>) {
    // Capture first: the controller, once woken below, reads what was published.
    let captured = target.crash.capture(signal, frame);
    let block = target.control.block();
    let kind = if block.serving.load(Ordering::Relaxed) != 0 {
        block.transition_kind.load(Ordering::Relaxed)
    } else {
        IDLE_KIND
    };
    block.crash_kind.store(kind, Ordering::Relaxed);
    block.crash_id.store(
        block.transition_id.load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    if let Some(trap) = crate::monitor::recorded_syscall_trap() {
        block
            .violation_syscall
            .store((trap.number as u32).wrapping_add(1), Ordering::Relaxed);
        block.violation_arch.store(trap.arch, Ordering::Relaxed);
        for (slot, arg) in block.violation_args.iter().zip(trap.args) {
            slot.store(arg, Ordering::Relaxed);
        }
    }
    block.crash_signal.store(signal as u32, Ordering::SeqCst);
    // Only a transition still pending becomes a crash. One the worker already completed
    // (the signal came after its reply, e.g. a SIGTERM racing a finished event) keeps its
    // outcome: the controller delivers that reply and learns of the crash at its next
    // transition, from `crash_signal` and the `PEER_GONE` flag.
    let _ = block.outcome.compare_exchange(
        Outcome::Pending as u32,
        Outcome::Crashed as u32,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    wait::raise_flag(&block.reply, PEER_GONE);
    // An async controller waits on the doorbell, not the futex: ring it too (rare, and a
    // `write` is async-signal-safe).
    if let Some(doorbell) = target.control.doorbell() {
        doorbell.ring();
    }
    if captured {
        target.crash.wait_for_ack();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::control::ControlBlock;

    /// A hook target with a fresh control block and a crash segment with capture disabled
    /// (these tests look at the control block only).
    fn hook_target() -> HookTarget {
        let size = std::mem::size_of::<ControlBlock>();
        let segment = Segment::create("crash-hook-test", size, CONTROL_SEALS, Access::ReadWrite)
            .expect("a memfd for the control block");
        let control = ControlSegment::new(segment).expect("the mapping holds a control block");
        let crash = Segment::create(
            "crash-hook-test:crash",
            segment_len(0),
            CONTROL_SEALS,
            Access::ReadWrite,
        )
        .expect("a memfd for the crash area");
        let crash = CrashArea::new(crash).expect("the mapping holds a crash header");
        crash.initialise(0, 0);
        HookTarget {
            control: Arc::new(control),
            crash: WorkerCrashArea::new(crash),
        }
    }

    /// Runs the crash hook as the handler would for a signal sent by a process.
    fn run_hook(target: &HookTarget, signal: i32) {
        report_crash(target, signal, SignalFrame::none());
    }

    /// Issue 16: a SIGTERM that arrives just after the worker completed a transition (its
    /// reply posted, not yet read) used to turn the completed outcome into `Crashed`, which
    /// the controller then reported as a protocol violation ("outcome code 4").
    #[test]
    fn crash_hook_keeps_an_outcome_that_already_completed() {
        let target = hook_target();
        let block = target.control.block();
        block
            .outcome
            .store(Outcome::Pending as u32, Ordering::SeqCst);
        block.complete(1, 42, Outcome::Succeeded, None, None);
        run_hook(&target, libc::SIGTERM);
        assert_eq!(
            block.outcome.load(Ordering::SeqCst),
            Outcome::Succeeded as u32,
            "the completed reply must be delivered"
        );
        assert_eq!(block.transition_id.load(Ordering::SeqCst), !42);
        assert_eq!(
            block.crash_signal.load(Ordering::SeqCst),
            libc::SIGTERM as u32
        );
        assert_ne!(block.reply.load(Ordering::SeqCst) & PEER_GONE, 0);
    }

    #[test]
    fn crash_hook_marks_a_pending_transition_crashed() {
        let target = hook_target();
        let block = target.control.block();
        block
            .outcome
            .store(Outcome::Pending as u32, Ordering::SeqCst);
        block.serving.store(1, Ordering::SeqCst);
        block.transition_kind.store(7, Ordering::SeqCst);
        run_hook(&target, libc::SIGSEGV);
        assert_eq!(
            block.outcome.load(Ordering::SeqCst),
            Outcome::Crashed as u32
        );
        assert_eq!(block.crash_kind.load(Ordering::SeqCst), 7);
        assert_ne!(block.reply.load(Ordering::SeqCst) & PEER_GONE, 0);
    }
}
