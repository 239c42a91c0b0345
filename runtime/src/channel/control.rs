//! The control block: the one page both processes map read-write (a memfd sealed against
//! any resize).
//!
//! Every field is an atomic, so either side may read or write any of them at any time
//! without a data race; the protocol decides who writes what and when:
//! - the controller writes `transition_kind`, `transition_id`, `stop` and the `to_worker`
//!   descriptor, then publishes them with a `SeqCst` store to `request`;
//! - the worker writes `outcome`, `keep`, the message, the complemented `transition_id` and
//!   the `from_worker` descriptor, then publishes them with a `SeqCst` store to `reply`;
//! - the controller writes the `config` section once, in `ControllerChannel::create`, before
//!   it publishes `magic`; the worker reads it once, in `WorkerChannel::open`, after it has
//!   checked `magic`, and nobody writes it again;
//! - each side writes its own `*_cpus` mask and `*_running` word (hints for the peer's
//!   wait path, read `Relaxed`: they decide whether to spin, never whether to sleep or wake);
//! - each side writes the *peer's* `*_woken_at` word when a post finds the peer asleep, just
//!   before it wakes it (a hint too: the woken side measures its wake-up with it);
//! - the `*_GONE` bits of `request`/`reply` are set with `fetch_or` by whoever learns that
//!   the other process died (a death watcher, or the worker's own fatal-signal handler);
//! - `controller_sleeping` is [`SLEEPING`](super::wait::SLEEPING) while the controller sleeps in `FUTEX_WAIT` and
//!   [`PARKED_ASYNC`](super::wait::PARKED_ASYNC) while an async controller waits in its event loop: the worker's post
//!   then rings the channel's doorbell (an eventfd) instead of waking the futex. The post
//!   loads this word anyway, so the blocking path pays nothing for it.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

use zerocopy::{FromBytes, IntoBytes, KnownLayout};

use super::wait::Side;
use crate::buffer::{BufferDescriptor, DescriptorHome, Direction};
use crate::sys::doorbell::Doorbell;
use crate::sys::memfd::{atomics_only, Segment, SharedView};
use crate::sys::sched::MASK_WORDS;

/// "TANDEM" + layout marker, little-endian.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"TANDEM\x01\x00");
/// Bumped whenever the layout of [`ControlBlock`] changes.
/// 8: `controller_sleeping` may be [`PARKED_ASYNC`](super::wait::PARKED_ASYNC) (a worker of layout 7 would not ring
/// the doorbell, and its token has one descriptor less).
pub(crate) const LAYOUT_VERSION: u32 = 8;
/// Room for a worker's error message; longer messages are cut at a character boundary.
pub(crate) const MESSAGE_CAPACITY: usize = 2048;

/// `crash_kind` of a worker that crashed between transitions (e.g. on a background thread).
pub(crate) const IDLE_KIND: u32 = u32::MAX - 1;

/// Low bits of `request`/`reply`: the sequence number of the transition.
pub(crate) const SEQUENCE_MASK: u32 = 0x7fff_ffff;
/// In `reply`: the worker is gone (died or crashed). In `request`: the controller is gone.
pub(crate) const PEER_GONE: u32 = 0x8000_0000;

/// What the worker reports about the transition it completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Outcome {
    Pending = 0,
    Succeeded = 1,
    Failed = 2,
    Refused = 3,
    Crashed = 4,
}

impl Outcome {
    pub(crate) fn from_raw(raw: u32) -> Option<Outcome> {
        Some(match raw {
            0 => Outcome::Pending,
            1 => Outcome::Succeeded,
            2 => Outcome::Failed,
            3 => Outcome::Refused,
            4 => Outcome::Crashed,
            _ => return None,
        })
    }
}

/// The settings that concern both sides (see [`ChannelConfig`](super::ChannelConfig)),
/// written once by the controller and read once by the worker.
#[repr(C)]
#[derive(Debug, FromBytes, IntoBytes, KnownLayout)]
pub(crate) struct ConfigSection {
    /// The spin budget of both sides, in nanoseconds.
    pub(crate) spin_nanos: AtomicU64,
    /// The largest message either side may write, in bytes.
    pub(crate) max_buffer_bytes: AtomicU64,
}

/// The shared control block. See the module docs for who writes what.
#[repr(C)]
#[derive(Debug, FromBytes, IntoBytes, KnownLayout)]
pub(crate) struct ControlBlock {
    pub(crate) magic: AtomicU64,
    pub(crate) layout_version: AtomicU32,
    pub(crate) block_size: AtomicU32,
    pub(crate) protocol_fingerprint: AtomicU64,
    pub(crate) worker_fingerprint: AtomicU64,
    /// Written once by the controller before `magic`, read once by the worker.
    pub(crate) config: ConfigSection,
    pub(crate) controller_pid: AtomicU32,
    /// Held the worker's pid up to layout version 5. Nobody writes or reads it now: a
    /// worker could write any pid there, so identity comes from the pidfd of the child.
    pub(crate) reserved_was_worker_pid: AtomicU32,
    /// Futex word: controller → worker.
    pub(crate) request: AtomicU32,
    /// Futex word: worker → controller.
    pub(crate) reply: AtomicU32,
    pub(crate) worker_sleeping: AtomicU32,
    pub(crate) controller_sleeping: AtomicU32,
    pub(crate) transition_kind: AtomicU32,
    pub(crate) stop: AtomicU32,
    pub(crate) transition_id: AtomicU64,
    pub(crate) keep: AtomicU32,
    pub(crate) outcome: AtomicU32,
    pub(crate) crash_signal: AtomicU32,
    pub(crate) crash_kind: AtomicU32,
    pub(crate) crash_id: AtomicU64,
    pub(crate) message_len: AtomicU32,
    /// 1 while the worker runs transition code (set by the worker, read by its crash hook).
    pub(crate) serving: AtomicU32,
    /// Which attempt at the same work the current request is (1 for the first), written by
    /// the controller with the request.
    pub(crate) attempt: AtomicU32,
    /// Keeps the descriptors 8-byte aligned; always 0.
    pub(crate) reserved: AtomicU32,
    pub(crate) to_worker: BufferDescriptor,
    pub(crate) from_worker: BufferDescriptor,
    /// The CPUs the controller may run on (bit `n` of word `n / 64` for CPU `n`), written
    /// by the controller, read by the worker's wait path; all zero until published.
    pub(crate) controller_cpus: [AtomicU64; MASK_WORDS],
    /// The CPUs the worker may run on, as `controller_cpus`.
    pub(crate) worker_cpus: [AtomicU64; MASK_WORDS],
    /// 1 + the CPU the controller last ran on while waiting, 0 while it sleeps in
    /// `FUTEX_WAIT` (or has never waited).
    pub(crate) controller_running: AtomicU32,
    /// 1 + the CPU the worker last ran on while waiting, as `controller_running`.
    pub(crate) worker_running: AtomicU32,
    /// When the worker last woke the sleeping controller (`CLOCK_MONOTONIC` nanoseconds),
    /// written by the worker's post just before its `FUTEX_WAKE`.
    pub(crate) controller_woken_at: AtomicU64,
    /// When the controller last woke the sleeping worker, as `controller_woken_at`.
    pub(crate) worker_woken_at: AtomicU64,
    /// The system call a seccomp filter refused, plus one (0: none recorded), written by the
    /// worker's crash hook with `crash_signal` = SIGSYS. The worker's word, not the kernel's.
    pub(crate) violation_syscall: AtomicU32,
    /// The `AUDIT_ARCH_*` value of that call.
    pub(crate) violation_arch: AtomicU32,
    /// Its six argument registers.
    pub(crate) violation_args: [AtomicU64; 6],
    pub(crate) message: [AtomicU8; MESSAGE_CAPACITY],
}

const _: () = assert!(std::mem::size_of::<ConfigSection>() == 16);
const _: () = assert!(
    std::mem::size_of::<ControlBlock>() == 176 + 2 * 8 * MASK_WORDS + 24 + 56 + MESSAGE_CAPACITY
);
const _: () = assert!(std::mem::size_of::<ControlBlock>() <= 4096);
// Offsets a peer of an earlier layout, or a test forging the old pid word, relies on.
const _: () = assert!(std::mem::offset_of!(ControlBlock, layout_version) == 8);
const _: () = assert!(std::mem::offset_of!(ControlBlock, reserved_was_worker_pid) == 52);

atomics_only!(ConfigSection {
    spin_nanos,
    max_buffer_bytes,
});
atomics_only!(ControlBlock {
    magic,
    layout_version,
    block_size,
    protocol_fingerprint,
    worker_fingerprint,
    config,
    controller_pid,
    reserved_was_worker_pid,
    request,
    reply,
    worker_sleeping,
    controller_sleeping,
    transition_kind,
    stop,
    transition_id,
    keep,
    outcome,
    crash_signal,
    crash_kind,
    crash_id,
    message_len,
    serving,
    attempt,
    reserved,
    to_worker,
    from_worker,
    controller_cpus,
    worker_cpus,
    controller_running,
    worker_running,
    controller_woken_at,
    worker_woken_at,
    violation_syscall,
    violation_arch,
    violation_args,
    message,
});

impl ControlBlock {
    /// The words the controller waits with.
    pub(crate) fn controller_side(&self) -> Side<'_> {
        Side {
            sleeping: &self.controller_sleeping,
            woken_at: &self.controller_woken_at,
            running: &self.controller_running,
            peer_sleeping: &self.worker_sleeping,
            peer_woken_at: &self.worker_woken_at,
            peer_running: &self.worker_running,
            cpus: &self.controller_cpus,
            peer_cpus: &self.worker_cpus,
        }
    }

    /// The words the worker waits with.
    pub(crate) fn worker_side(&self) -> Side<'_> {
        Side {
            sleeping: &self.worker_sleeping,
            woken_at: &self.worker_woken_at,
            running: &self.worker_running,
            peer_sleeping: &self.controller_sleeping,
            peer_woken_at: &self.controller_woken_at,
            peer_running: &self.controller_running,
            cpus: &self.worker_cpus,
            peer_cpus: &self.controller_cpus,
        }
    }

    pub(crate) fn descriptor(&self, direction: Direction) -> &BufferDescriptor {
        match direction {
            Direction::ToWorker => &self.to_worker,
            Direction::FromWorker => &self.from_worker,
        }
    }

    /// The worker's half of a round: records `outcome` (with `message`, for a failure),
    /// returns the complement of the request's `id` and posts `sequence` in `reply`, which
    /// publishes all of it to the controller. Returns whether the controller had to be
    /// woken (through its futex, or through `doorbell` if it is parked asynchronously).
    pub(crate) fn complete(
        &self,
        sequence: u32,
        id: u64,
        outcome: Outcome,
        message: Option<&str>,
        doorbell: Option<&Doorbell>,
    ) -> bool {
        if let Some(message) = message {
            self.write_message(message);
        }
        self.outcome.store(outcome as u32, Ordering::Relaxed);
        self.transition_id.store(!id, Ordering::Relaxed);
        super::wait::post_ringing(&self.reply, self.worker_side(), sequence, doorbell)
    }

    /// Stores `message` (cut to [`MESSAGE_CAPACITY`] at a character boundary).
    pub(crate) fn write_message(&self, message: &str) {
        let mut end = message.len().min(MESSAGE_CAPACITY);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        for (slot, byte) in self.message.iter().zip(&message.as_bytes()[..end]) {
            slot.store(*byte, Ordering::Relaxed);
        }
        self.message_len.store(end as u32, Ordering::Relaxed);
    }

    /// Reads the message back; invalid UTF-8 or an out-of-range length from a broken peer
    /// is repaired, never trusted.
    pub(crate) fn read_message(&self) -> String {
        let len = (self.message_len.load(Ordering::Relaxed) as usize).min(MESSAGE_CAPACITY);
        let bytes: Vec<u8> = self.message[..len]
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// A mapped control segment, viewed as a [`ControlBlock`].
#[derive(Debug)]
pub(crate) struct ControlSegment {
    view: SharedView<ControlBlock>,
    /// The worker's end of the channel's doorbell (`None` on the controller's side, which
    /// keeps its own): rung by its posts and its crash hook.
    doorbell: Option<Doorbell>,
}

impl ControlSegment {
    /// Wraps a read-write mapping at least as large as a control block; `None` otherwise.
    pub(crate) fn new(segment: Segment) -> Option<ControlSegment> {
        SharedView::new(segment).map(|view| ControlSegment {
            view,
            doorbell: None,
        })
    }

    /// Gives the worker's segment the doorbell it rings (at open, before it is shared).
    pub(crate) fn set_doorbell(&mut self, doorbell: Doorbell) {
        self.doorbell = Some(doorbell);
    }

    /// The doorbell the worker rings, if this is the worker's segment.
    pub(crate) fn doorbell(&self) -> Option<&Doorbell> {
        self.doorbell.as_ref()
    }

    /// The memfd behind the block.
    pub(crate) fn segment(&self) -> &Segment {
        self.view.segment()
    }

    /// The control block. No failure path: the mapping was checked once, in `new` (the
    /// crash hook calls this from a signal handler).
    pub(crate) fn block(&self) -> &ControlBlock {
        self.view.get()
    }
}

impl DescriptorHome for ControlSegment {
    fn descriptor(&self, direction: Direction) -> &BufferDescriptor {
        self.block().descriptor(direction)
    }
}
