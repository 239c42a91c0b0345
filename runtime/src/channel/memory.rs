//! The memory of a channel as the controller creates it for one worker: the control block
//! and both buffers, sealed memfds, and the token that names them to the worker.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::control::{ControlBlock, ControlSegment, LAYOUT_VERSION, MAGIC};
use super::token::{buffer_label, part_label, Token};
use super::wait;
use super::{ChannelConfig, ChannelError};
use crate::buffer::{BufferError, Direction, ReadBuffer, WriteBuffer};
use crate::crash::{self, CrashArea, CrashCapture};
use crate::sys::doorbell::Doorbell;
use crate::sys::memfd::{Access, Segment, WriterSegment, CONTROL_SEALS};
use crate::sys::process::{current_pid, PidFd};

/// A channel's four memfds, as the controller holds them for one worker.
pub(super) struct Memory {
    pub(super) control: Arc<ControlSegment>,
    pub(super) to_worker: WriteBuffer,
    pub(super) from_worker: ReadBuffer,
    pub(super) to_worker_for_peer: OwnedFd,
    pub(super) controller_pidfd: PidFd,
    pub(super) crash: CrashArea,
}

/// Creates, initialises and seals a crash segment (`<label>:crash`) for one worker.
pub(super) fn create_crash_area(
    label: &str,
    capture: &CrashCapture,
) -> Result<CrashArea, ChannelError> {
    let name = part_label(label, "crash");
    let capacity = capture.max_stack_bytes;
    let len = crash::segment_len(capacity);
    let segment = Segment::create(&name, len, CONTROL_SEALS, Access::ReadWrite)
        .map_err(|f| BufferError::segment(&name, len, f))?;
    segment
        .forbid_reopening()
        .map_err(|f| BufferError::segment(&name, len, f))?;
    let Some(area) = CrashArea::new(segment) else {
        return Err(ChannelError::Os {
            operation: "mapping the crash segment",
            source: std::io::Error::other("the mapping cannot hold a crash header"),
        });
    };
    area.initialise(capacity, capture.ack_timeout_ms());
    Ok(area)
}

impl Memory {
    /// Creates and seals the memfds and initialises the control block with `config`.
    pub(super) fn create(
        label: &str,
        config: ChannelConfig,
        fingerprint: u64,
        crash_capture: &CrashCapture,
    ) -> Result<Memory, ChannelError> {
        let control_label = part_label(label, "ctl");
        let size = std::mem::size_of::<ControlBlock>();
        let segment = Segment::create(&control_label, size, CONTROL_SEALS, Access::ReadWrite)
            .map_err(|f| BufferError::segment(&control_label, size, f))?;
        let Some(control) = ControlSegment::new(segment) else {
            // A fresh read-write mapping of the block's size always holds a block; should
            // the kernel ever hand out a misaligned one, say so instead of panicking.
            return Err(ChannelError::Os {
                operation: "mapping the control block",
                source: std::io::Error::other("the mapping cannot hold a control block"),
            });
        };
        let control = Arc::new(control);
        let block = control.block();
        config.write_to(&block.config);
        block
            .layout_version
            .store(LAYOUT_VERSION, Ordering::Relaxed);
        block.block_size.store(size as u32, Ordering::Relaxed);
        block
            .protocol_fingerprint
            .store(fingerprint, Ordering::Relaxed);
        block
            .controller_pid
            .store(current_pid() as u32, Ordering::Relaxed);
        // The worker's first waits can tell at once whether spinning may pay.
        wait::publish_affinity(&block.controller_cpus);
        block.magic.store(MAGIC, Ordering::Release);

        let to_worker_label = buffer_label(label, Direction::ToWorker);
        let to_worker_error = |f| BufferError::segment(&to_worker_label, 0, f);
        let to_worker_segment =
            WriterSegment::create_input(&to_worker_label, config.max_buffer_bytes)
                .map_err(to_worker_error)?;
        let to_worker_for_peer = to_worker_segment
            .segment()
            .reopen_read_only()
            .map_err(to_worker_error)?;
        let from_worker_label = buffer_label(label, Direction::FromWorker);
        let from_worker_segment = Segment::create_reply(&from_worker_label)
            .map_err(|f| BufferError::segment(&from_worker_label, 0, f))?;
        // Nobody but root opens these memfds again through `/proc/<pid>/fd` (a sibling
        // worker of the same user would reach another worker's channel that way).
        for segment in [
            control.segment(),
            to_worker_segment.segment(),
            &from_worker_segment,
        ] {
            segment
                .forbid_reopening()
                .map_err(|f| BufferError::segment(segment.label(), 0, f))?;
        }
        let controller_pidfd = PidFd::of_this_process().map_err(|source| ChannelError::Os {
            operation: "opening a pidfd of the controller (pidfd_open)",
            source,
        })?;
        let to_worker = WriteBuffer::new(
            control.clone(),
            Direction::ToWorker,
            to_worker_segment,
            config.max_buffer_bytes,
        );
        let from_worker = ReadBuffer::new(
            control.clone(),
            Direction::FromWorker,
            from_worker_segment,
            config.max_buffer_bytes,
        );
        let crash = create_crash_area(label, crash_capture)?;
        Ok(Memory {
            control,
            to_worker,
            from_worker,
            to_worker_for_peer,
            controller_pidfd,
            crash,
        })
    }

    /// The token naming these memfds and the channel's `doorbell`, as the worker inherits
    /// them.
    pub(super) fn token(&self, label: &str, doorbell: &Doorbell) -> String {
        render_token(
            label,
            &self.control,
            &self.to_worker_for_peer,
            &self.from_worker,
            &self.controller_pidfd,
            &self.crash,
            doorbell,
        )
    }
}

/// The token naming a worker's descriptors, in the order the worker adopts them.
pub(super) fn render_token(
    label: &str,
    control: &ControlSegment,
    to_worker_for_peer: &OwnedFd,
    from_worker: &ReadBuffer,
    controller_pidfd: &PidFd,
    crash: &CrashArea,
    doorbell: &Doorbell,
) -> String {
    Token {
        label: label.to_owned(),
        fds: [
            control.segment().raw_fd(),
            to_worker_for_peer.as_raw_fd(),
            from_worker.raw_fd(),
            controller_pidfd.raw_fd(),
            crash.segment().raw_fd(),
            doorbell.raw_fd(),
        ],
    }
    .render()
}
