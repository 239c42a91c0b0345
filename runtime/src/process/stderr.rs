//! Keeps the last lines a worker wrote to stderr, forwarding every line to our own stderr.
//!
//! Bounded whatever the worker writes: a line is kept (and forwarded) up to
//! [`MAX_LINE_BYTES`], the rest of it dropped with a marker saying how much; the tail holds
//! at most the configured number of lines, so the capture never holds more than
//! `lines × MAX_LINE_BYTES` plus one read buffer.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::ChildStderr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Longest part of one line that is kept and forwarded.
pub(crate) const MAX_LINE_BYTES: usize = 64 << 10;

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
}

impl StderrCapture {
    /// Starts a thread that forwards `stderr` line by line and keeps the last `capacity`
    /// lines.
    pub(crate) fn start(
        stderr: ChildStderr,
        capacity: usize,
        pid: u32,
    ) -> std::io::Result<Arc<StderrCapture>> {
        let capture = Arc::new(StderrCapture {
            tail: Mutex::new(Tail::default()),
            closed: Condvar::new(),
            capacity,
        });
        let shared = Arc::clone(&capture);
        std::thread::Builder::new()
            .name(format!("tandem-stderr-{pid}"))
            .spawn(move || shared.pump(stderr))?;
        Ok(capture)
    }

    fn pump(&self, stderr: ChildStderr) {
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        while let Some(dropped) = read_line_capped(&mut reader, &mut line) {
            let text = String::from_utf8_lossy(&line);
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
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.closed = true;
        self.closed.notify_all();
    }

    /// The kept lines, after waiting up to `wait` for the worker to close its stderr (it
    /// does when it dies), so that its last words are included.
    pub(crate) fn tail_after_exit(&self, wait: Duration) -> String {
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
}

/// Reads one line into `line` (cleared first), keeping at most [`MAX_LINE_BYTES`] of it and
/// consuming the rest up to the newline. Returns how many bytes were dropped, or `None` at
/// the end of the stream (or on an error) with nothing read.
fn read_line_capped(reader: &mut impl BufRead, line: &mut Vec<u8>) -> Option<usize> {
    line.clear();
    let mut dropped = 0;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => &[],
        };
        if available.is_empty() {
            return (!line.is_empty() || dropped > 0).then_some(dropped);
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..=end], true),
            None => (available, false),
        };
        let room = MAX_LINE_BYTES.saturating_sub(line.len());
        let kept = chunk.len().min(room);
        line.extend_from_slice(&chunk[..kept]);
        dropped += chunk.len() - kept;
        let used = chunk.len();
        reader.consume(used);
        if done {
            return Some(dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{read_line_capped, MAX_LINE_BYTES};

    #[test]
    fn long_lines_are_cut_and_the_rest_counted() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 10];
        input.extend_from_slice(b"\nshort\nlast");
        let mut reader = std::io::BufReader::with_capacity(1000, &input[..]);
        let mut line = Vec::new();
        assert_eq!(read_line_capped(&mut reader, &mut line), Some(11));
        assert_eq!(line.len(), MAX_LINE_BYTES);
        assert_eq!(read_line_capped(&mut reader, &mut line), Some(0));
        assert_eq!(line, b"short\n");
        assert_eq!(read_line_capped(&mut reader, &mut line), Some(0));
        assert_eq!(line, b"last");
        assert_eq!(read_line_capped(&mut reader, &mut line), None);
    }
}
