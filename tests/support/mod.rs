//! Helpers shared by the process tests: re-running this test binary as a worker or as a
//! controller, and checking `/dev/shm` for leftovers.
#![allow(dead_code)]

pub mod faults;
pub mod harness;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable that tells a re-executed test binary which role to play.
pub const ROLE_ENV: &str = "TANDEM_TEST_ROLE";

/// A command that re-runs this test binary's ignored `entry` test with `role`.
pub fn role_command(entry: &str, role: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("test binary path"));
    command
        .args([
            "--ignored",
            "--exact",
            entry,
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(ROLE_ENV, role)
        .stdout(Stdio::null());
    command
}

/// The role this process was started with, if it was re-executed.
pub fn role() -> Option<String> {
    std::env::var(ROLE_ENV).ok()
}

/// Segments in /dev/shm whose name contains `needle`.
pub fn segments_containing(needle: &str) -> Vec<String> {
    let needle = needle.trim_start_matches('/');
    std::fs::read_dir("/dev/shm")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.contains(needle))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits up to `limit` for every segment containing `needle` to disappear; returns what
/// is left.
pub fn leftover_segments(needle: &str, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    loop {
        let left = segments_containing(needle);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether process `pid` still runs (a zombie counts as gone).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            state != Some("Z") && state != Some("X")
        }
        Err(_) => false,
    }
}

/// Waits up to `limit` for `pid` to be gone; returns how long it took, or `None`.
pub fn wait_gone(pid: u32, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !process_alive(pid) {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

/// Whether a path exists under /dev/shm for the segment `name`.
pub fn segment_exists(name: &str) -> bool {
    Path::new("/dev/shm")
        .join(name.trim_start_matches('/'))
        .exists()
}
