//! A hostile worker, round two: it forges its pid, attacks the controller's input through
//! every route to the memfd, publishes a sparse reply, and reaches for its siblings'
//! channels. Each attack ends in a typed error or in nothing at all, and the controller
//! reports only what the kernel told it. The test binary re-runs itself as the worker
//! (`worker_entry`) or as a controller (`controller_entry`).

use crate::support;

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use support::{role, role_command};
use tandem::{
    BufferError, ChannelError, Controller, ControllerChannel, Options, ProcessOptions,
    WorkerChannel,
};

const ECHO: u32 = 0;
const FORGE_PID_AND_DIE: u32 = 1;
const ATTACK_INPUT: u32 = 2;
const SPARSE_REPLY: u32 = 3;
const OPEN_PATHS: u32 = 4;

/// Offset of the word that held the worker's pid in the control block up to layout
/// version 5 (reserved since, at the same offset): a word the controller must never believe.
const WORKER_PID_OFFSET: usize = 52;

/// The process every forging worker claims to be: `init`, which a user who trusts the
/// report would kill.
const FORGED_PID: u32 = 1;

fn options() -> Options {
    Options::default()
        .setup_timeout(Duration::from_secs(5))
        .transition_timeout(Duration::from_secs(5))
        .max_buffer_bytes(64 << 20)
}

/// The channel's options, with a short grace before a stopped worker is killed.
fn process_options() -> ProcessOptions {
    ProcessOptions::new(options()).shutdown_grace(Duration::from_millis(200))
}

fn spawn(base: &str, id: u32) -> Controller {
    Controller::spawn(
        role_command("hostile_peer::worker_entry", "hostile"),
        base,
        id,
        process_options(),
    )
    .unwrap()
}

/// The channel memfds this process holds: `(descriptor, label)` from `/proc/self/fd`.
fn channel_fds() -> Vec<(i32, String)> {
    support::tandem_memfds_of("self")
}

/// "ok" for a successful call, else the errno's name as a number.
fn outcome(ret: i64) -> String {
    if ret >= 0 {
        "ok".to_owned()
    } else {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        format!("errno{errno}")
    }
}

fn open(path: &str, flags: i32) -> i32 {
    let path = CString::new(path).unwrap();
    // SAFETY: open with a NUL-terminated path; the descriptor is closed by the caller.
    unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) }
}

/// A word of this worker's control block, mapped anew (the channel's own mapping is
/// private to it): what a forging worker writes.
fn control_word(offset: usize) -> &'static AtomicU32 {
    support::control_word(offset)
}

/// Tries every way to write or resize the controller's input from this worker; one line
/// per attempt: `<route> <operation> <outcome>`.
fn attack_input() -> String {
    let (c2w, label) = channel_fds()
        .into_iter()
        .find(|(_, label)| label.ends_with(":c2w"))
        .expect("the input's memfd");
    let mut report = String::new();
    let mut line = |route: &str, operation: &str, ret: i64| {
        report.push_str(&format!("{route} {operation} {}\n", outcome(ret)));
    };
    // The descriptor the worker holds, and a duplicate of it.
    // SAFETY: dup of our own descriptor; closed below.
    let duplicate = unsafe { libc::dup(c2w) };
    for (route, fd) in [("inherited", c2w), ("dup", duplicate)] {
        try_writes(route, fd, &mut line);
    }
    // SAFETY: closing the duplicate made above.
    unsafe { libc::close(duplicate) };
    // Reopened read-write: through this process's fd table, through the controller's,
    // through the mapping's file.
    let mut paths = vec![("proc-self-fd".to_owned(), format!("/proc/self/fd/{c2w}"))];
    // SAFETY: getppid has no preconditions.
    let controller = unsafe { libc::getppid() };
    for (fd, other) in support::tandem_memfds_of(&controller.to_string()) {
        if other == label {
            paths.push((
                "proc-controller-fd".to_owned(),
                format!("/proc/{controller}/fd/{fd}"),
            ));
        }
    }
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mapping = maps
        .lines()
        .find(|l| l.contains(&format!("memfd:{label} ")) || l.ends_with(&format!("memfd:{label}")))
        .map(|l| l.split_whitespace().next().unwrap().to_owned());
    if let Some(range) = &mapping {
        paths.push((
            "map-files".to_owned(),
            format!("/proc/self/map_files/{range}"),
        ));
    }
    for (route, path) in &paths {
        let fd = open(path, libc::O_RDWR);
        line(route, "open-rdwr", i64::from(fd));
        if fd >= 0 {
            try_writes(route, fd, &mut line);
            // SAFETY: closing the descriptor opened above.
            unsafe { libc::close(fd) };
        }
    }
    // The read-only mapping the channel made, made writable.
    if let Some(range) = mapping {
        let (start, end) = range.split_once('-').unwrap();
        let start = usize::from_str_radix(start, 16).unwrap();
        let end = usize::from_str_radix(end, 16).unwrap();
        // SAFETY: mprotect of a mapping of this process; if it succeeded, nothing writes
        // through it (the report alone fails the test).
        let ret = unsafe {
            libc::mprotect(
                start as *mut libc::c_void,
                end - start,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        line("mapping", "mprotect-write", i64::from(ret));
    }
    report
}

/// Every write or resize of `fd` a worker could try; each outcome goes to `line`.
fn try_writes(route: &str, fd: i32, line: &mut impl FnMut(&str, &str, i64)) {
    let hack = b"HACKED";
    // SAFETY: the calls below only touch `fd` (a descriptor of this process) and the
    // local buffer; a mapping that succeeds is written once and unmapped at once.
    unsafe {
        line(
            route,
            "pwrite",
            libc::pwrite(fd, hack.as_ptr().cast(), hack.len(), 0) as i64,
        );
        let map = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        );
        line(
            route,
            "mmap-write",
            if map == libc::MAP_FAILED { -1 } else { 0 },
        );
        if map != libc::MAP_FAILED {
            std::ptr::copy_nonoverlapping(hack.as_ptr(), map.cast::<u8>(), hack.len());
            libc::munmap(map, 4096);
        }
        line(
            route,
            "ftruncate-grow",
            i64::from(libc::ftruncate(fd, 1 << 31)),
        );
        line(
            route,
            "fallocate-grow",
            i64::from(libc::fallocate(fd, 0, 0, 1 << 31)),
        );
        line(
            route,
            "punch-hole",
            i64::from(libc::fallocate(
                fd,
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                0,
                4096,
            )),
        );
    }
}

#[test]
#[ignore = "worker half of the hostile tests, started by them"]
fn worker_entry() {
    let Some(role) = role() else { return };
    let mut worker = match WorkerChannel::from_env(0) {
        Ok(worker) => worker.expect("started as a worker"),
        Err(ChannelError::ControllerGone { .. }) => {
            std::process::exit(tandem::channel::CONTROLLER_GONE_EXIT_STATUS)
        }
        Err(error) => panic!("worker could not open its channel: {error}"),
    };
    if role == "forge_in_setup" {
        // Claims to be `init` before setup is done, then dies.
        control_word(WORKER_PID_OFFSET).store(FORGED_PID, Ordering::SeqCst);
        std::process::exit(3);
    }
    let result = worker.handle_transitions(|request| -> Result<(), String> {
        let reply = match request.kind() {
            ECHO => request.trusted_input().map_err(|e| e.to_string())?.to_vec(),
            FORGE_PID_AND_DIE => {
                control_word(WORKER_PID_OFFSET).store(FORGED_PID, Ordering::SeqCst);
                std::process::exit(3);
            }
            ATTACK_INPUT => {
                // Read the input first, so that the channel maps it.
                request.trusted_input().map_err(|e| e.to_string())?;
                attack_input().into_bytes()
            }
            SPARSE_REPLY => {
                // A reply file stretched for free, published as a 32 MiB message.
                let len = 32u64 << 20;
                let fd = request.output().raw_fd();
                // SAFETY: ftruncate of this worker's own reply memfd (sealed only against
                // shrinking).
                let grown = unsafe { libc::ftruncate(fd, len as i64) };
                if grown != 0 {
                    return Err(format!("ftruncate: {}", std::io::Error::last_os_error()));
                }
                request.output().publish_unchecked(len, len);
                return Ok(());
            }
            OPEN_PATHS => {
                let paths = request.trusted_input().map_err(|e| e.to_string())?.to_vec();
                let paths = String::from_utf8(paths).map_err(|e| e.to_string())?;
                let mut report = String::new();
                for path in paths.lines() {
                    for (mode, flags) in [("read", libc::O_RDONLY), ("write", libc::O_RDWR)] {
                        let fd = open(path, flags);
                        report.push_str(&format!("{path} {mode} {}\n", outcome(i64::from(fd))));
                        if fd >= 0 {
                            // SAFETY: closing the descriptor opened above.
                            unsafe { libc::close(fd) };
                        }
                    }
                }
                report.into_bytes()
            }
            other => return Err(format!("unknown kind {other}")),
        };
        request.output().write(&reply).map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => {}
        Err(ChannelError::ControllerGone { .. }) => {
            std::process::exit(tandem::channel::CONTROLLER_GONE_EXIT_STATUS)
        }
        Err(error) => panic!("worker failed: {error}"),
    }
}

#[test]
fn a_forged_pid_is_never_reported() {
    let mut controller = spawn("forge", 1);
    let worker = controller.pid().unwrap();
    assert_eq!(controller.channel().worker_pid(), Some(worker));
    controller.to_worker().write(b"").unwrap();
    let error = controller
        .do_transition(FORGE_PID_AND_DIE, 1, |_| ())
        .unwrap_err();
    match &error {
        ChannelError::WorkerDied { pid, .. } => assert_eq!(*pid, worker, "{error}"),
        other => panic!("expected the worker's death, got {other}"),
    }
    assert_eq!(
        controller.channel().worker_pid(),
        Some(worker),
        "the channel names the process it spawned"
    );
    assert!(!error.to_string().contains(&format!("worker {FORGED_PID} ")));
}

#[test]
fn a_pid_forged_during_setup_does_not_hide_the_workers_death() {
    // The raw channel watches the child its launcher returned, from the start: a worker
    // that claims another pid and dies is reported dead at once, not at the time-out.
    let mut channel = ControllerChannel::create("forge", 2, options()).unwrap();
    let mut spawned = None;
    let error = channel
        .setup_worker(|channel| {
            let mut command = role_command("hostile_peer::worker_entry", "forge_in_setup");
            channel.prepare_command(&mut command);
            let child = command.spawn()?;
            spawned = Some(child.id());
            Ok(child)
        })
        .unwrap_err();
    let spawned = spawned.unwrap();
    match &error {
        ChannelError::WorkerDied { pid, .. } => assert_eq!(*pid, spawned, "{error}"),
        other => panic!("expected the worker's death during setup, got {other}"),
    }
}

#[test]
fn the_controllers_input_is_read_only_through_every_route() {
    let mut controller = spawn("input", 1);
    let input = b"the controller's input, which no worker may change".to_vec();
    controller.to_worker().write(&input).unwrap();
    let report = controller
        .do_transition(ATTACK_INPUT, 1, |mut r| r.to_vec())
        .unwrap()
        .unwrap();
    let report = String::from_utf8(report).unwrap();
    eprintln!("{report}");
    let mut writes = 0;
    for line in report.lines() {
        let [route, operation, result] = line.split(' ').collect::<Vec<_>>()[..] else {
            panic!("{report}")
        };
        if operation == "open-rdwr" {
            // Root may reopen the memfd read-write; the seals then refuse every write.
            continue;
        }
        writes += 1;
        assert_ne!(result, "ok", "{route} {operation} succeeded:\n{report}");
    }
    // The inherited and duplicated descriptors (5 attempts each), the descriptor reopened
    // through /proc/self/fd (as root) or its refusal, and the mapping made writable.
    assert!(writes >= 11, "{report}");
    assert!(report.contains("mapping mprotect-write"), "{report}");
    // The worker sees the input unchanged, and so does a restarted worker, which gets the
    // controller's copy of the last message.
    let echoed = controller
        .do_transition(ECHO, 2, |mut r| r.to_vec())
        .unwrap()
        .unwrap();
    assert_eq!(echoed, input);
    controller.restart().unwrap();
    let echoed = controller
        .do_transition(ECHO, 3, |mut r| r.to_vec())
        .unwrap()
        .unwrap();
    assert_eq!(echoed, input, "the restarted worker got the original input");
}

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap()
}

#[test]
fn a_sparse_reply_costs_the_controller_no_memory() {
    let mut controller = spawn("sparse", 1);
    controller.to_worker().write(b"").unwrap();
    let before = resident_kib();
    let error = controller
        .do_transition(SPARSE_REPLY, 1, |mut r| r.to_vec().map(|bytes| bytes.len()))
        .unwrap()
        .unwrap_err();
    let after = resident_kib();
    eprintln!("resident: {before} KiB before, {after} KiB after a 32 MiB sparse reply");
    match &error {
        BufferError::CorruptDescriptor { detail, .. } => {
            assert!(detail.contains("never written"), "{error}")
        }
        other => panic!("expected a refused sparse reply, got {other}"),
    }
    assert!(
        after < before + (4 << 10),
        "the controller grew from {before} KiB to {after} KiB"
    );
    let next = controller.do_transition(ECHO, 2, |_| ()).unwrap_err();
    assert!(next.requires_restart(), "{next}");
}

/// The sibling test's controller, run as another user when this process is root (root
/// opens anything; the point is what an ordinary user's worker reaches), else as is.
fn as_ordinary_user(command: Command, dir: &std::path::Path) -> Command {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return command;
    }
    // The test binary, copied where the other user can run it.
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = dir.join("hostile_peer");
    std::fs::copy(command.get_program(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut wrapped = Command::new("setpriv");
    wrapped
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&exe)
        .args(command.get_args())
        .current_dir(dir);
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            wrapped.env(key, value);
        }
    }
    wrapped
}

#[test]
fn siblings_cannot_open_each_others_channels() {
    let dir = std::env::temp_dir().join(format!("tandem-siblings-{}", std::process::id()));
    let output = as_ordinary_user(
        role_command("hostile_peer::controller_entry", "siblings"),
        &dir,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .output()
    .expect("setpriv runs (CI installs util-linux)");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}");
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let mut tried = 0;
    for line in stdout.lines().filter(|l| l.starts_with("/proc/")) {
        let [path, mode, result] = line.split(' ').collect::<Vec<_>>()[..] else {
            panic!("{stdout}")
        };
        tried += 1;
        assert_eq!(
            result, "errno13",
            "a sibling opened {path} for {mode}:\n{stdout}"
        );
    }
    // The controller's four memfds of the other channel (with the input's read-only twin)
    // and the other worker's three, each for reading and for writing.
    assert!(tried >= 14, "{stdout}\n{stderr}");
}

#[test]
#[ignore = "controller half of the sibling test, started by it"]
fn controller_entry() {
    if role().as_deref() != Some("siblings") {
        return;
    }
    let mut first = spawn("siblings", 0);
    let second = spawn("siblings", 1);
    let me = std::process::id();
    let other = second.pid().unwrap();
    let mut paths = String::new();
    for (fd, label) in support::tandem_memfds_of("self") {
        if label.starts_with("tandem:siblings:1:") {
            paths.push_str(&format!("/proc/{me}/fd/{fd}\n"));
        }
    }
    for (fd, _) in support::tandem_memfds_of(&other.to_string()) {
        paths.push_str(&format!("/proc/{other}/fd/{fd}\n"));
    }
    first.to_worker().write(paths.as_bytes()).unwrap();
    let report = first
        .do_transition(OPEN_PATHS, 1, |mut r| r.to_vec())
        .unwrap()
        .unwrap();
    print!("{}", String::from_utf8(report).unwrap());
    // Keep the second worker alive until the first one has tried.
    drop(second);
}
