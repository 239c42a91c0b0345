//! Keeps the last lines a worker wrote to stderr, forwarding every line to our own stderr.
//!
//! Bounded whatever the worker writes: a line is kept (and forwarded) up to
//! [`MAX_LINE_BYTES`], the rest of it dropped with a marker saying how much; the tail holds
//! at most the configured number of lines, so the capture never holds more than
//! `lines × MAX_LINE_BYTES` plus one read buffer.
//!
//! The pipe is read by a thread per worker for a blocking [`Controller`](super::Controller),
//! and by a task on the tokio reactor for an async one (feature `tokio`), which must not
//! cost a thread per channel.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::process::ChildStderr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Longest part of one line that is kept and forwarded.
pub(crate) const MAX_LINE_BYTES: usize = 64 << 10;

/// How much of the pipe one read takes.
const READ_CHUNK: usize = 8 << 10;

/// Who reads a worker's stderr pipe.
#[derive(Debug, Clone, Default)]
pub(crate) enum StderrPump {
    /// A thread per worker (blocking controllers).
    #[default]
    Thread,
    /// A task on this runtime's reactor (async controllers).
    #[cfg(feature = "tokio")]
    Reactor(tokio::runtime::Handle),
}

#[derive(Debug, Default)]
struct Tail {
    lines: VecDeque<String>,
    closed: bool,
}

/// The bounded tail of a worker's stderr.
#[derive(Debug)]
pub(crate) struct StderrCapture {
    tail: Mutex<Tail>,
    closed: Condvar,
    capacity: usize,
    /// The reactor task reading the pipe, awaited by async error reports; `None` for a
    /// thread, or once the task ended.
    #[cfg(feature = "tokio")]
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl StderrCapture {
    /// Starts reading `stderr` as `pump` says, forwarding it line by line and keeping the
    /// last `capacity` lines.
    pub(crate) fn start(
        stderr: ChildStderr,
        capacity: usize,
        pid: u32,
        pump: &StderrPump,
    ) -> std::io::Result<Arc<StderrCapture>> {
        let capture = Arc::new(StderrCapture {
            tail: Mutex::new(Tail::default()),
            closed: Condvar::new(),
            capacity,
            #[cfg(feature = "tokio")]
            task: Mutex::new(None),
        });
        let shared = Arc::clone(&capture);
        match pump {
            StderrPump::Thread => {
                std::thread::Builder::new()
                    .name(format!("tandem-stderr-{pid}"))
                    .spawn(move || shared.pump(stderr))?;
            }
            #[cfg(feature = "tokio")]
            StderrPump::Reactor(runtime) => {
                let task = runtime.spawn(async move { shared.pump_async(stderr).await });
                *capture.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
            }
        }
        Ok(capture)
    }

    fn pump(&self, mut stderr: ChildStderr) {
        let mut lines = LineAssembler::default();
        let mut chunk = vec![0; READ_CHUNK];
        loop {
            match stderr.read(&mut chunk) {
                Ok(0) => break,
                Ok(read) => lines.push(&chunk[..read], &mut |line, dropped| {
                    self.keep(line, dropped);
                }),
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        lines.finish(&mut |line, dropped| self.keep(line, dropped));
        self.close();
    }

    /// The reactor's pump: the pipe registered with the runtime, read when readable.
    #[cfg(feature = "tokio")]
    async fn pump_async(&self, stderr: ChildStderr) {
        use std::io::ErrorKind;
        let pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(stderr.into());
        if let Ok(pipe) = pipe {
            let mut lines = LineAssembler::default();
            let mut chunk = vec![0; READ_CHUNK];
            loop {
                if pipe.readable().await.is_err() {
                    break;
                }
                match pipe.try_read(&mut chunk) {
                    Ok(0) => break,
                    Ok(read) => lines.push(&chunk[..read], &mut |line, dropped| {
                        self.keep(line, dropped);
                    }),
                    Err(error)
                        if matches!(
                            error.kind(),
                            ErrorKind::WouldBlock | ErrorKind::Interrupted
                        ) => {}
                    Err(_) => break,
                }
            }
            lines.finish(&mut |line, dropped| self.keep(line, dropped));
        }
        self.close();
    }

    /// Forwards one line (its newline, if any, still on) and keeps it in the tail.
    fn keep(&self, line: &[u8], dropped: usize) {
        let text = String::from_utf8_lossy(line);
        let mut text = text.trim_end_matches(['\n', '\r']).to_owned();
        if dropped > 0 {
            text.push_str(&format!("[... {dropped} bytes dropped]"));
        }
        let mut out = std::io::stderr().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.write_all(b"\n");
        drop(out);
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.lines.len() >= self.capacity {
            tail.lines.pop_front();
        }
        if self.capacity > 0 {
            tail.lines.push_back(text);
        }
    }

    fn close(&self) {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.closed = true;
        self.closed.notify_all();
    }

    /// The kept lines, after waiting up to `wait` for the worker to close its stderr (it
    /// does when it dies), so that its last words are included. A capture read by the
    /// reactor is not waited for here (the wait would block the very thread that reads it):
    /// async callers await [`closed_within`](Self::closed_within) first.
    pub(crate) fn tail_after_exit(&self, wait: Duration) -> String {
        #[cfg(feature = "tokio")]
        let wait = if self
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            Duration::ZERO
        } else {
            wait
        };
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let (tail, _) = self
            .closed
            .wait_timeout_while(tail, wait, |tail| !tail.closed)
            .unwrap_or_else(|e| e.into_inner());
        tail.lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits up to `wait`, without blocking the thread, for the reactor's pump to reach the
    /// end of the pipe.
    #[cfg(feature = "tokio")]
    pub(crate) async fn closed_within(&self, wait: Duration) {
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut task) = task {
            if tokio::time::timeout(wait, &mut task).await.is_err() {
                *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
            }
        }
    }
}

/// Cuts a byte stream into lines of at most [`MAX_LINE_BYTES`], counting what it drops of
/// longer ones, whatever the chunks it is fed.
#[derive(Debug, Default)]
struct LineAssembler {
    line: Vec<u8>,
    dropped: usize,
}

impl LineAssembler {
    /// Feeds `bytes`, handing each completed line (newline included) and the number of
    /// bytes dropped from it to `emit`.
    fn push(&mut self, mut bytes: &[u8], emit: &mut impl FnMut(&[u8], usize)) {
        while !bytes.is_empty() {
            let (chunk, done) = match bytes.iter().position(|&b| b == b'\n') {
                Some(end) => (&bytes[..=end], true),
                None => (bytes, false),
            };
            let room = MAX_LINE_BYTES.saturating_sub(self.line.len());
            let kept = chunk.len().min(room);
            self.line.extend_from_slice(&chunk[..kept]);
            self.dropped += chunk.len() - kept;
            bytes = &bytes[chunk.len()..];
            if done {
                emit(&self.line, self.dropped);
                self.line.clear();
                self.dropped = 0;
            }
        }
    }

    /// Hands the last, unterminated line to `emit`, if there is one.
    fn finish(&mut self, emit: &mut impl FnMut(&[u8], usize)) {
        if !self.line.is_empty() || self.dropped > 0 {
            emit(&self.line, self.dropped);
        }
        self.line.clear();
        self.dropped = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::{LineAssembler, MAX_LINE_BYTES};

    #[test]
    fn long_lines_are_cut_and_the_rest_counted_across_chunks() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 10];
        input.extend_from_slice(b"\nshort\nlast");
        let mut lines = Vec::new();
        let mut assembler = LineAssembler::default();
        let mut emit = |line: &[u8], dropped| lines.push((line.to_vec(), dropped));
        for chunk in input.chunks(1000) {
            assembler.push(chunk, &mut emit);
        }
        assembler.finish(&mut emit);
        assert_eq!(lines.len(), 3);
        assert_eq!((lines[0].0.len(), lines[0].1), (MAX_LINE_BYTES, 11));
        assert_eq!(lines[1], (b"short\n".to_vec(), 0));
        assert_eq!(lines[2], (b"last".to_vec(), 0));
    }
}
