//! One configuration for both sides: what the controller chooses in its `Options` is what the
//! worker uses, and each side's wait statistics show it. Real worker processes (this test
//! binary re-run as the ignored `worker_entry` test); no timing is asserted. Uses libc to pin
//! a test thread (and the worker it starts) to one CPU.

use crate::support;

use std::process::Command;
use std::time::Duration;

use support::{role, role_command};
use tandem::{
    channel::{ChannelConfig, WaitStats},
    process::ExitReason,
    BufferError, ChannelError, Controller, ControllerChannel, Options, WorkerChannel,
};

/// The worker answers with its configuration and its wait statistics.
const REPORT: u32 = 1;
/// The worker answers with an empty message.
const EMPTY: u32 = 2;
/// The worker answers with as many bytes as the transition id says.
const SIZED: u32 = 3;

fn worker(role: &str) -> Command {
    role_command("config::worker_entry", role)
}

fn options() -> Options {
    Options::default()
        .setup_timeout(Duration::from_secs(5))
        .transition_timeout(Duration::from_secs(5))
}

/// What the worker reports, as the numbers it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Report {
    spin: Duration,
    max_buffer_bytes: usize,
    stats: Stats,
}

/// The fields of `WaitStats`, in a struct the test can build (`WaitStats` is
/// `#[non_exhaustive]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stats {
    waits: u64,
    answered_at_once: u64,
    answered_while_spinning: u64,
    answered_after_sleeping: u64,
    spins: u64,
    spins_skipped_shared_cpu: u64,
    spins_skipped_busy: u64,
    sleeps: u64,
    wakes_sent: u64,
    timeouts: u64,
}

impl From<WaitStats> for Stats {
    fn from(s: WaitStats) -> Self {
        Stats {
            waits: s.waits,
            answered_at_once: s.answered_at_once,
            answered_while_spinning: s.answered_while_spinning,
            answered_after_sleeping: s.answered_after_sleeping,
            spins: s.spins,
            spins_skipped_shared_cpu: s.spins_skipped_shared_cpu,
            spins_skipped_busy: s.spins_skipped_busy,
            sleeps: s.sleeps,
            wakes_sent: s.wakes_sent,
            timeouts: s.timeouts,
        }
    }
}

impl Stats {
    fn to_words(self) -> [u64; 10] {
        [
            self.waits,
            self.answered_at_once,
            self.answered_while_spinning,
            self.answered_after_sleeping,
            self.spins,
            self.spins_skipped_shared_cpu,
            self.spins_skipped_busy,
            self.sleeps,
            self.wakes_sent,
            self.timeouts,
        ]
    }

    /// Every wait ends one way.
    fn assert_consistent(&self, side: &str) {
        assert_eq!(
            self.answered_at_once
                + self.answered_while_spinning
                + self.answered_after_sleeping
                + self.timeouts,
            self.waits,
            "{side}: {self:?}"
        );
    }
}

fn encode(config: ChannelConfig, stats: WaitStats) -> Vec<u8> {
    let mut words = vec![
        config.spin.as_nanos() as u64,
        config.max_buffer_bytes as u64,
    ];
    words.extend(Stats::from(stats).to_words());
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn decode(bytes: &[u8]) -> Report {
    let words: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(words.len(), 12, "report of {} bytes", bytes.len());
    Report {
        spin: Duration::from_nanos(words[0]),
        max_buffer_bytes: words[1] as usize,
        stats: Stats {
            waits: words[2],
            answered_at_once: words[3],
            answered_while_spinning: words[4],
            answered_after_sleeping: words[5],
            spins: words[6],
            spins_skipped_shared_cpu: words[7],
            spins_skipped_busy: words[8],
            sleeps: words[9],
            wakes_sent: words[10],
            timeouts: words[11],
        },
    }
}

#[test]
#[ignore = "worker half of the configuration tests, started by them"]
fn worker_entry() {
    let Some(role) = role() else { return };
    let mut worker = WorkerChannel::from_env(0)
        .expect("open channel")
        .expect("started as a worker");
    assert_eq!(role, "reporter", "unknown worker role");
    let config = worker.config();
    let result = worker.handle_transitions(|request| -> Result<(), String> {
        let id = request.id();
        match request.kind() {
            REPORT => {
                let report = encode(config, request.wait_stats());
                request.output().write(&report).map_err(|e| e.to_string())
            }
            EMPTY => request.output().write(b"").map_err(|e| e.to_string()),
            SIZED => match request.output().write(&vec![7u8; id as usize]) {
                Ok(()) => Ok(()),
                Err(BufferError::TooLarge { len, max, .. }) => {
                    Err(format!("worker refused: TooLarge {len} > {max}"))
                }
                Err(other) => Err(format!("worker refused: {other}")),
            },
            other => Err(format!("unknown kind {other}")),
        }
    });
    match result {
        Ok(()) => std::process::exit(0),
        Err(ChannelError::ControllerGone { .. }) => {
            std::process::exit(tandem::channel::CONTROLLER_GONE_EXIT_STATUS)
        }
        Err(error) => panic!("worker failed: {error}"),
    }
}

/// Runs `transitions` empty transitions back to back, then asks for the worker's report.
fn run(controller: &mut Controller, transitions: u64) -> Report {
    for id in 0..transitions {
        controller.to_worker().write(b"").unwrap();
        controller.do_transition(EMPTY, id, |_| ()).unwrap();
    }
    controller.to_worker().write(b"").unwrap();
    controller
        .do_transition(REPORT, transitions, |mut reply| {
            decode(&reply.to_vec().unwrap())
        })
        .unwrap()
}

#[test]
fn the_worker_uses_the_configuration_the_controller_chose() {
    let choices = [
        (Duration::ZERO, 1000),
        (Duration::from_micros(123), 4096),
        (Duration::from_millis(2), 1 << 20),
        {
            let defaults = Options::default().config().unwrap();
            (defaults.spin, defaults.max_buffer_bytes)
        },
    ];
    for (n, (spin, max_buffer_bytes)) in choices.into_iter().enumerate() {
        let options = options().spin(spin).max_buffer_bytes(max_buffer_bytes);
        let mut controller =
            Controller::spawn(worker("reporter"), "cfg", n as u32, options).unwrap();
        let chosen = controller.channel().config();
        assert_eq!(
            (chosen.spin, chosen.max_buffer_bytes),
            (spin, max_buffer_bytes)
        );
        let report = run(&mut controller, 0);
        assert_eq!(report.spin, spin, "spin of choice {n}");
        assert_eq!(
            report.max_buffer_bytes, max_buffer_bytes,
            "limit of choice {n}"
        );
        assert_eq!(controller.shutdown(), Some(ExitReason::Exited(0)));
    }
}

#[test]
fn with_zero_spin_neither_side_spins() {
    let options = options().spin(Duration::ZERO);
    let mut controller = Controller::spawn(worker("reporter"), "nospin", 0, options).unwrap();
    let report = run(&mut controller, 200);
    let worker = report.stats;
    worker.assert_consistent("worker");
    assert_eq!(worker.waits, 201, "{worker:?}");
    assert_eq!(
        (worker.spins, worker.answered_while_spinning),
        (0, 0),
        "{worker:?}"
    );
    // "Never spin" looks at nothing: no wait is counted as a spin skipped for a reason.
    assert_eq!(
        (worker.spins_skipped_shared_cpu, worker.spins_skipped_busy),
        (0, 0),
        "{worker:?}"
    );
    assert_eq!(worker.timeouts, 0, "{worker:?}");
    let ours = Stats::from(controller.wait_stats());
    ours.assert_consistent("controller");
    assert!(ours.waits > 200, "{ours:?}");
    assert_eq!(
        (ours.spins, ours.answered_while_spinning),
        (0, 0),
        "{ours:?}"
    );
    assert_eq!(
        (ours.spins_skipped_shared_cpu, ours.spins_skipped_busy),
        (0, 0),
        "{ours:?}"
    );
    assert_eq!(ours.timeouts, 0, "{ours:?}");
    assert_eq!(controller.wait_stats().spin_share(), 0.0);
    assert_eq!(controller.shutdown(), Some(ExitReason::Exited(0)));
}

#[test]
fn with_a_spin_budget_both_sides_consider_spinning() {
    let spin = Duration::from_millis(10);
    let options = options().spin(spin);
    let mut controller = Controller::spawn(worker("reporter"), "spin", 0, options).unwrap();
    let report = run(&mut controller, 200);
    assert_eq!(report.spin, spin);
    // Only that each side considered spinning: whether it spun depends on where the two
    // processes run and on the machine's load (the skip counters say which), whether it
    // paid on the work per transition.
    for (side, stats) in [
        ("worker", report.stats),
        ("controller", Stats::from(controller.wait_stats())),
    ] {
        stats.assert_consistent(side);
        assert!(
            stats.spins + stats.spins_skipped_shared_cpu + stats.spins_skipped_busy > 0,
            "{side}: {stats:?}"
        );
    }
    assert_eq!(controller.shutdown(), Some(ExitReason::Exited(0)));
}

/// Confines the calling thread (and the processes it starts from now on, which inherit its
/// mask) to the one CPU it runs on now; returns that CPU.
fn pin_to_current_cpu() -> usize {
    // SAFETY: `sched_getcpu` only reads the CPU number.
    let cpu = usize::try_from(unsafe { libc::sched_getcpu() }).expect("sched_getcpu works");
    support::pin(cpu);
    cpu
}

#[test]
fn with_both_processes_on_one_cpu_the_default_never_spins() {
    // A thread of its own: the pinning stays with it, the other tests keep every CPU.
    std::thread::spawn(|| {
        pin_to_current_cpu();
        let mut controller = Controller::spawn(worker("reporter"), "onecpu", 0, options()).unwrap();
        let report = run(&mut controller, 200);
        for (side, stats) in [
            ("worker", report.stats),
            ("controller", Stats::from(controller.wait_stats())),
        ] {
            stats.assert_consistent(side);
            assert_eq!(
                (stats.spins, stats.answered_while_spinning),
                (0, 0),
                "{side}: {stats:?}"
            );
            if !report.spin.is_zero() {
                // The peer can only answer once this side leaves the CPU: every wait that
                // did not find its answer at once sleeps at once, for that reason.
                assert_eq!(
                    stats.spins_skipped_shared_cpu,
                    stats.waits - stats.answered_at_once - stats.timeouts,
                    "{side}: {stats:?}"
                );
            }
        }
        assert_eq!(controller.shutdown(), Some(ExitReason::Exited(0)));
    })
    .join()
    .unwrap();
}

#[test]
fn a_reply_above_the_controllers_limit_fails_in_the_worker() {
    let options = options().max_buffer_bytes(1000);
    let mut controller = Controller::spawn(worker("reporter"), "limit", 0, options).unwrap();
    controller.to_worker().write(b"").unwrap();
    let error = controller.do_transition(SIZED, 1001, |_| ()).unwrap_err();
    match &error {
        ChannelError::WorkerFailed { message, .. } => {
            assert_eq!(message, "worker refused: TooLarge 1001 > 1000", "{error}");
        }
        other => panic!("expected WorkerFailed, got {other}"),
    }
    // The worker goes on, and a reply at the limit passes.
    controller.to_worker().write(b"").unwrap();
    let len = controller
        .do_transition(SIZED, 1000, |mut reply| reply.bytes().unwrap().len())
        .unwrap();
    assert_eq!(len, 1000);
    assert_eq!(controller.shutdown(), Some(ExitReason::Exited(0)));
}

#[test]
fn out_of_range_settings_are_refused_at_creation() {
    let error =
        ControllerChannel::create("badcfg", 0, options().spin(Duration::from_secs(5))).unwrap_err();
    assert!(
        matches!(
            error,
            ChannelError::InvalidConfig {
                setting: "spin",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("Options::spin"), "{error}");
}
