//! A worker that misbehaves on purpose, and jobs that end badly: every case ends in a typed
//! error or a correct result, the controller survives it, and a restarted worker serves
//! again. The test binary re-runs itself as the worker (`worker_entry`) or as a controller
//! (`controller_entry`).

use crate::support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{assert_nothing_in_dev_shm, dev_shm_entries_of, role, role_command, wait_gone};
use tandem::{
    channel::Violation, BufferError, ChannelError, Controller, ControllerChannel, Options,
    ProcessOptions, WorkerChannel,
};

const ECHO: u32 = 0;
const RESIZE: u32 = 1;
const PUBLISH: u32 = 2;
const TWICE: u32 = 3;
const STDERR: u32 = 4;
const CHILD: u32 = 5;
const SLEEP: u32 = 6;

/// The limit every hostile channel runs with.
const MAX: usize = 1 << 16;

fn options() -> Options {
    Options::default()
        .setup_timeout(Duration::from_secs(5))
        .transition_timeout(Duration::from_secs(5))
        .max_buffer_bytes(MAX)
}

/// The channel's options, with a short grace before a stopped worker is killed.
fn process_options() -> ProcessOptions {
    ProcessOptions::new(options()).shutdown_grace(Duration::from_millis(200))
}

fn spawn(id: u32) -> Controller {
    Controller::spawn(
        role_command("hostile::worker_entry", "hostile"),
        "hostile",
        id,
        process_options(),
    )
    .unwrap()
}

/// The channel memfds this process holds: `(descriptor, label)` from `/proc/self/fd`.
fn channel_fds() -> Vec<(i32, String)> {
    support::tandem_memfds_of("self")
}

fn errno_of(ret: i32) -> String {
    if ret == 0 {
        "ok".to_owned()
    } else {
        std::io::Error::last_os_error()
            .raw_os_error()
            .map_or("?".to_owned(), |e| e.to_string())
    }
}

/// Offsets in the control block (layout version 5) that the forging worker writes.
const REPLY_OFFSET: usize = 60;
const ID_OFFSET: usize = 80;
const OUTCOME_OFFSET: usize = 92;

/// After its honest reply, keeps posting that reply again over the next request: a stale
/// completion the controller must not take for the new transition's.
fn forge_second_reply(id: u64) {
    let base = support::map_control_block();
    let word = move |offset: usize| {
        // SAFETY: in bounds of the 4096-byte mapping, aligned, and only used atomically.
        unsafe { &*((base + offset) as *const std::sync::atomic::AtomicU32) }
    };
    // SAFETY: as above, for the 8-byte id.
    let id_word = unsafe { &*((base + ID_OFFSET) as *const std::sync::atomic::AtomicU64) };
    std::thread::spawn(move || {
        use std::sync::atomic::Ordering::SeqCst;
        std::thread::sleep(Duration::from_millis(20));
        let stale = word(REPLY_OFFSET).load(SeqCst);
        for _ in 0..2000 {
            id_word.store(!id, SeqCst);
            word(OUTCOME_OFFSET).store(2, SeqCst);
            word(REPLY_OFFSET).store(stale, SeqCst);
            std::thread::yield_now();
        }
    });
}

#[test]
#[ignore = "worker half of the hostile tests, started by them"]
fn worker_entry() {
    let Some(role) = role() else { return };
    if role == "late" {
        std::thread::sleep(Duration::from_millis(500));
    }
    if role == "stuck_setup" {
        // Opens the channel, then never finishes its setup.
        let _worker = WorkerChannel::from_env(0).expect("open").expect("a worker");
        std::thread::sleep(Duration::from_secs(30));
        return;
    }
    let mut worker = match WorkerChannel::from_env(0) {
        Ok(worker) => worker.expect("started as a worker"),
        Err(ChannelError::ControllerGone { .. }) => {
            std::process::exit(tandem::channel::CONTROLLER_GONE_EXIT_STATUS)
        }
        Err(error) => panic!("worker could not open its channel: {error}"),
    };
    let result = worker.handle_transitions(|request| -> Result<(), String> {
        let reply = match request.kind() {
            ECHO => request.trusted_input().map_err(|e| e.to_string())?.to_vec(),
            RESIZE => {
                request.output().write(b"x").map_err(|e| e.to_string())?;
                let mut report = String::new();
                for (fd, label) in channel_fds() {
                    // SAFETY: ftruncate and fcntl on descriptors of this process; the seals
                    // are what is tested.
                    let (shrink, grow, seal) = unsafe {
                        (
                            errno_of(libc::ftruncate(fd, 0)),
                            errno_of(libc::ftruncate(fd, 1 << 20)),
                            errno_of(libc::fcntl(
                                fd,
                                libc::F_ADD_SEALS,
                                libc::F_SEAL_FUTURE_WRITE,
                            )),
                        )
                    };
                    report.push_str(&format!("{label} {shrink} {grow} {seal}\n"));
                }
                report.into_bytes()
            }
            PUBLISH => {
                let output = request.output();
                output.write(&[1u8; 100]).map_err(|e| e.to_string())?;
                let (length, capacity) = match request.id() {
                    1 => (10_000, 4096),                   // length past the capacity
                    2 => (100, 1 << 15),                   // capacity past the file
                    3 => (100, MAX as u64 + 4096),         // capacity past the limit
                    4 => (MAX as u64 + 1, MAX as u64 + 1), // length past the limit
                    _ => (u64::MAX, u64::MAX),
                };
                request.output().publish_unchecked(length, capacity);
                return Ok(());
            }
            TWICE => {
                forge_second_reply(request.id());
                request.id().to_le_bytes().to_vec()
            }
            STDERR => {
                let chunk = vec![b'e'; 1 << 16];
                let mut err = std::io::stderr().lock();
                for _ in 0..(128 << 20) / chunk.len() {
                    err.write_all(&chunk).map_err(|e| e.to_string())?;
                }
                err.write_all(b"\n").map_err(|e| e.to_string())?;
                b"done".to_vec()
            }
            CHILD => {
                let output = Command::new("sh")
                    .args(["-c", "for f in /proc/self/fd/*; do readlink $f; done; env"])
                    .stderr(Stdio::null())
                    .output()
                    .map_err(|e| e.to_string())?;
                output.stdout
            }
            SLEEP => {
                std::thread::sleep(Duration::from_secs(30));
                Vec::new()
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

/// The controller still works (after a restart if the channel needs one).
fn still_serves(controller: &mut Controller, id: u64) {
    controller.to_worker().write(b"ping").unwrap();
    let reply = match controller.do_transition(ECHO, id, |mut r| r.to_vec()) {
        Ok(reply) => reply.unwrap(),
        Err(error) => {
            assert!(error.requires_restart(), "{error}");
            controller.restart().unwrap();
            controller.to_worker().write(b"ping").unwrap();
            controller
                .do_transition(ECHO, id, |mut r| r.to_vec())
                .unwrap()
                .unwrap()
        }
    };
    assert_eq!(reply, b"ping");
}

#[test]
fn seals_refuse_every_resize_and_new_seal() {
    let mut controller = spawn(1);
    controller.to_worker().write(b"input").unwrap();
    let report = controller
        .do_transition(RESIZE, 1, |mut r| r.to_vec())
        .unwrap()
        .unwrap();
    let report = String::from_utf8(report).unwrap();
    let eperm = libc::EPERM.to_string();
    let mut seen = 0;
    for line in report.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let [label, shrink, grow, seal] = fields[..] else {
            panic!("{report}")
        };
        seen += 1;
        assert_ne!(shrink, "ok", "{label} shrank: {report}");
        assert_eq!(seal, eperm, "{label} took a new seal: {report}");
        if label.ends_with(":ctl") || label.ends_with(":crash") {
            assert_eq!(shrink, eperm, "{report}");
            assert_eq!(grow, eperm, "{report}");
        } else if label.ends_with(":c2w") {
            // Read-only for the worker: it cannot even try.
            assert_ne!(grow, "ok", "{report}");
        } else {
            assert_eq!(shrink, eperm, "{report}");
        }
    }
    // The control block, both buffers and the crash segment.
    assert_eq!(seen, 4, "{report}");
    // The controller's mappings are untouched: the next transitions work as before.
    controller.to_worker().write(&[5u8; 10_000]).unwrap();
    let reply = controller
        .do_transition(ECHO, 2, |mut r| r.to_vec())
        .unwrap()
        .unwrap();
    assert_eq!(reply, vec![5u8; 10_000]);
    still_serves(&mut controller, 3);
    assert_nothing_in_dev_shm(std::process::id());
}

#[test]
fn published_sizes_past_the_mapping_or_the_limit_are_typed_errors() {
    let mut controller = spawn(2);
    for (id, too_large) in [(1, false), (2, false), (3, true), (4, true), (5, true)] {
        controller.to_worker().write(b"x").unwrap();
        let error = controller
            .do_transition(PUBLISH, id, |mut r| r.to_vec())
            .unwrap()
            .unwrap_err();
        match &error {
            BufferError::TooLarge { max, .. } if too_large => assert_eq!(*max, MAX),
            BufferError::CorruptDescriptor { name, .. } if !too_large => {
                assert_eq!(name, "tandem:hostile:2:w2c")
            }
            other => panic!("case {id}: {other}"),
        }
        // The worker broke the protocol: the channel wants a restart, and gets one.
        let next = controller
            .do_transition(ECHO, 100 + id, |_| ())
            .unwrap_err();
        assert!(next.requires_restart(), "{next}");
        // The refusal keeps the violation, and the buffer's own error inside it.
        match next.earlier() {
            Some(ChannelError::ProtocolViolation {
                violation: Violation::Buffer(buffer),
            }) => assert_eq!(buffer.to_string(), error.to_string()),
            other => panic!("case {id}: {other:?}"),
        }
        assert!(next.to_string().contains("protocol violation"), "{next}");
        let old = controller.pid();
        controller.restart().unwrap();
        assert_ne!(controller.pid(), old);
        still_serves(&mut controller, 200 + id);
    }
}

#[test]
fn a_second_reply_is_never_taken_for_the_next_transition() {
    let mut controller = spawn(3);
    for id in 1..=20u64 {
        controller.to_worker().write(b"twice").unwrap();
        match controller.do_transition(TWICE, id, |mut r| r.to_vec()) {
            Ok(reply) => assert_eq!(reply.unwrap(), id.to_le_bytes(), "transition {id}"),
            Err(error) => {
                // The forged word can hide the honest one: a typed error, then a restart.
                assert!(
                    error.requires_restart() || matches!(error, ChannelError::WorkerFailed { .. }),
                    "{error}"
                );
                controller.restart().unwrap();
            }
        }
    }
    still_serves(&mut controller, 100);
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
fn an_endless_stderr_line_keeps_the_controller_small() {
    let mut controller = spawn(4);
    still_serves(&mut controller, 1);
    let before = resident_kib();
    controller.to_worker().write(b"").unwrap();
    let reply = controller
        .do_transition(STDERR, 2, |mut r| r.to_vec())
        .unwrap()
        .unwrap();
    assert_eq!(reply, b"done");
    controller.shutdown();
    let after = resident_kib();
    eprintln!("resident: {before} KiB before, {after} KiB after a 128 MiB stderr line");
    assert!(
        after < before + (32 << 10),
        "the controller grew from {before} KiB to {after} KiB"
    );
}

#[test]
fn a_workers_own_children_inherit_no_channel() {
    let mut controller = spawn(5);
    controller.to_worker().write(b"").unwrap();
    let listing = controller
        .do_transition(CHILD, 1, |mut r| r.to_vec())
        .unwrap()
        .unwrap();
    let listing = String::from_utf8(listing).unwrap();
    assert!(listing.contains("PATH="), "the child ran: {listing}");
    assert!(
        !listing.contains("memfd:"),
        "a descriptor leaked: {listing}"
    );
    assert!(
        !listing.contains(tandem::channel::CHANNEL_ENV),
        "the token leaked: {listing}"
    );
    // The worker itself holds its three descriptors.
    let worker = controller.pid().unwrap();
    assert!(assert_nothing_in_dev_shm(worker) >= 3);
    still_serves(&mut controller, 2);
}

#[test]
fn another_user_cannot_open_a_channel() {
    let probe = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "id",
            "-u",
        ])
        .output();
    match probe {
        Ok(output) if String::from_utf8_lossy(&output.stdout).trim() == "65534" => {}
        // SAFETY: geteuid has no preconditions.
        _ if unsafe { libc::geteuid() } == 0 || std::env::var_os("CI").is_some() => {
            // Where the test can run, it must: a skip would pass without proving anything.
            panic!("setpriv is missing or cannot change to uid 65534: install util-linux");
        }
        _ => {
            println!("skipped: not root, so setpriv cannot change to uid 65534 here");
            return;
        }
    }
    let mut controller = spawn(6);
    let worker = controller.pid().unwrap();
    let me = std::process::id();
    let targets: Vec<String> = std::fs::read_dir(format!("/proc/{me}/fd"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| {
            std::fs::read_link(entry.path())
                .is_ok_and(|t| t.to_string_lossy().starts_with("/memfd:tandem:hostile:6:"))
        })
        .map(|entry| entry.path().to_string_lossy().into_owned())
        .chain(
            ["3", "4", "5"]
                .into_iter()
                .map(|n| format!("/proc/{worker}/fd/{n}")),
        )
        .collect();
    assert!(targets.len() >= 3, "{targets:?}");
    for target in &targets {
        for tool in [&["cat"][..], &["sh", "-c", "echo x >> \"$0\""][..]] {
            let output = Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .args(tool)
                .arg(target)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success(), "{tool:?} {target} succeeded");
            assert!(
                stderr.contains("Permission denied") || stderr.contains("Operation not permitted"),
                "{tool:?} {target}: {stderr}"
            );
        }
    }
    still_serves(&mut controller, 1);
}

#[test]
#[ignore = "controller half of the hostile tests, started by them"]
fn controller_entry() {
    let Some(role) = role() else { return };
    match role.as_str() {
        // Starts a worker that opens the channel only after 500 ms and says who it is:
        // the test kills this process before that.
        "early" | "setup" => {
            let worker_role = if role == "early" {
                "late"
            } else {
                "stuck_setup"
            };
            let mut channel = ControllerChannel::create("early", 0, options()).unwrap();
            let _ = channel.setup_worker(|channel| {
                let mut command = role_command("hostile::worker_entry", worker_role);
                channel.prepare_command(&mut command);
                let child = command.spawn()?;
                println!("victim {}", child.id());
                Ok(child)
            });
        }
        // A job in the middle of a transition, in its own process group.
        "group" => {
            let mut controller = Controller::spawn(
                role_command("hostile::worker_entry", "hostile"),
                "group",
                0,
                process_options(),
            )
            .unwrap();
            println!("victim {}", controller.pid().unwrap());
            let _ = controller.do_transition(SLEEP, 1, |_| ());
        }
        other => panic!("unknown controller role {other}"),
    }
    std::thread::sleep(Duration::from_secs(60));
}

/// Starts a controller in `role`, optionally as the leader of a new process group; returns
/// it and its worker's pid.
fn start_victim(role: &str, own_group: bool) -> (std::process::Child, u32) {
    let mut command = role_command("hostile::controller_entry", role);
    command.stdout(Stdio::piped());
    if own_group {
        command.process_group(0);
    }
    let mut victim = command.spawn().unwrap();
    let mut stdout = BufReader::new(victim.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("victim ") {
        line.clear();
        assert_ne!(
            stdout.read_line(&mut line).unwrap(),
            0,
            "the controller ended early"
        );
    }
    let worker = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    (victim, worker)
}

#[test]
fn a_controller_killed_before_its_worker_opens_the_channel_leaves_nothing() {
    let (mut victim, worker) = start_victim("early", false);
    let controller = victim.id();
    victim.kill().unwrap();
    victim.wait().unwrap();
    let gone = wait_gone(worker, Duration::from_secs(5));
    assert!(gone.is_some(), "worker {worker} still runs");
    let left = dev_shm_entries_of(&[controller, worker]);
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_worker_stuck_in_setup_leaves_after_the_grace_when_its_controller_dies() {
    let (mut victim, worker) = start_victim("setup", false);
    // Let the worker open the channel and settle in its endless setup.
    std::thread::sleep(Duration::from_millis(200));
    victim.kill().unwrap();
    victim.wait().unwrap();
    let gone = wait_gone(worker, Duration::from_secs(5));
    eprintln!("worker stuck in setup gone {gone:?} after its controller's SIGKILL");
    assert!(gone.is_some(), "worker {worker} still runs");
}

#[test]
fn a_process_group_killed_mid_transition_leaves_nothing() {
    let (mut victim, worker) = start_victim("group", true);
    let controller = victim.id();
    std::thread::sleep(Duration::from_millis(100));
    // What a batch system does at its wall-time limit.
    // SAFETY: kill(2) of the process group the controller leads.
    let killed = unsafe { libc::kill(-(controller as i32), libc::SIGKILL) };
    assert_eq!(killed, 0);
    victim.wait().unwrap();
    assert!(wait_gone(controller, Duration::from_secs(5)).is_some());
    assert!(
        wait_gone(worker, Duration::from_secs(5)).is_some(),
        "worker {worker} still runs"
    );
    let left = dev_shm_entries_of(&[controller, worker]);
    assert!(left.is_empty(), "{left:?}");
}
