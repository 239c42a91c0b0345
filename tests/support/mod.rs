//! Helpers shared by the process tests: re-running this test binary as a worker or as a
//! controller, and checking that nothing of tandem appears under `/dev/shm`.
#![allow(dead_code)]

pub mod faults;
pub mod harness;

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

/// Entries of /dev/shm that look like tandem's (named segments of older releases: tandem's
/// memfds have no name) and belong to one of `pids` (old names held the controller's pid).
/// Other jobs on the machine may own `tandem-*` names, so only ours count.
pub fn dev_shm_entries_of(pids: &[u32]) -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| {
                    name.contains("tandem")
                        && pids.iter().any(|pid| name.contains(&format!("-{pid}-")))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts that process `pid` maps and holds nothing under /dev/shm, and that nothing of
/// tandem with its pid is there. Returns how many tandem memfds it maps or holds (their
/// `/proc` names are `/memfd:tandem:…`).
pub fn assert_nothing_in_dev_shm(pid: u32) -> usize {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let mut seen: Vec<String> = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5).map(str::to_owned))
        .collect();
    if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        seen.extend(
            fds.filter_map(Result::ok)
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .map(|target| target.to_string_lossy().into_owned()),
        );
    }
    let in_shm: Vec<&String> = seen.iter().filter(|p| p.starts_with("/dev/shm/")).collect();
    assert!(in_shm.is_empty(), "process {pid} uses /dev/shm: {in_shm:?}");
    let left = dev_shm_entries_of(&[pid]);
    assert!(left.is_empty(), "tandem entries in /dev/shm: {left:?}");
    seen.iter().filter(|p| p.contains("memfd:tandem:")).count()
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

/// The tandem memfds process `pid` (or `"self"`) holds, as `(descriptor, label)`.
pub fn tandem_memfds_of(pid: &str) -> Vec<(i32, String)> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let fd = entry.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            let label = target
                .to_string_lossy()
                .strip_prefix("/memfd:")?
                .split(' ')
                .next()?
                .to_owned();
            label.starts_with("tandem:").then_some((fd, label))
        })
        .collect()
}

/// The address of a fresh shared mapping of this worker's control block (the channel's own
/// mapping is private to it): what a forging worker writes through. Never unmapped.
pub fn map_control_block() -> usize {
    let (fd, _) = tandem_memfds_of("self")
        .into_iter()
        .find(|(_, label)| label.ends_with(":ctl"))
        .expect("the control block's memfd");
    // SAFETY: a fresh shared mapping of the control block's 4096-byte memfd (sealed against
    // shrinking); the callers use it only through atomics and never unmap it.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED);
    base as usize
}

/// The 32-bit word at `offset` of this worker's control block, through
/// [`map_control_block`].
pub fn control_word(offset: usize) -> &'static std::sync::atomic::AtomicU32 {
    assert!(
        offset.is_multiple_of(4) && offset + 4 <= 4096,
        "a word of the block"
    );
    // SAFETY: in bounds of the 4096-byte mapping, aligned, used only atomically; the
    // mapping lives as long as the process.
    unsafe { &*((map_control_block() + offset) as *const std::sync::atomic::AtomicU32) }
}

/// Confines the calling thread to `cpu`.
pub fn pin(cpu: usize) {
    // SAFETY: a zeroed `cpu_set_t` is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below the set's capacity (callers take it from a mask or the kernel).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a live `cpu_set_t` of the size passed; pid 0 is this thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    assert_eq!(
        rc,
        0,
        "sched_setaffinity: {}",
        std::io::Error::last_os_error()
    );
}
