//! Keeps the last lines a worker wrote to stderr, forwarding every line to our own stderr.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::ChildStderr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

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
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let _ = std::io::stderr().write_all(&line);
                    let text = String::from_utf8_lossy(&line)
                        .trim_end_matches(['\n', '\r'])
                        .to_owned();
                    let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
                    if tail.lines.len() == self.capacity {
                        tail.lines.pop_front();
                    }
                    if self.capacity > 0 {
                        tail.lines.push_back(text);
                    }
                }
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
