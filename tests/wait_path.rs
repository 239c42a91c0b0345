//! The wait path through real processes, read through the wait statistics (no timing is
//! asserted): after a run of long calls a run of short ones is answered while spinning again,
//! on the controller's side and on the worker's; an idle worker ends asleep in `FUTEX_WAIT`
//! without a time-out; and a worker that wakes its controller in a loop without answering
//! (a futex storm) makes it back off, while its time-out or its death is still reported.
//!
//! The test binary re-runs itself as the worker (the ignored `worker_entry` test). The tests
//! of this binary run one at a time: each needs the machine's CPUs for its two processes, which
//! is also why this is a test binary of its own rather than a module of `tests/process`.

#[path = "support/mod.rs"]
mod support;

use std::process::Command;
use std::sync::atomic::AtomicU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::{role, role_command};
use tandem::{
    channel::WaitStats, ChannelError, Controller, Options, ProcessOptions, WorkerChannel,
};

/// The worker busy-loops for as many microseconds as the transition id says.
const WORK: u32 = 1;
/// The worker answers with its wait statistics.
const REPORT: u32 = 2;
/// The worker wakes the controller's reply futex in a loop and never answers; with a non-zero
/// id it exits after that many milliseconds.
const STORM: u32 = 3;

/// Environment variable naming the CPU the worker pins itself to.
const CPU_ENV: &str = "TANDEM_TEST_WORKER_CPU";

/// Offset of the `reply` word in the control block (layout version 6), which the storming
/// worker wakes.
const REPLY_OFFSET: usize = 60;

/// Long calls: longer than the default spin ceiling (200 µs), so that no spin alone answers
/// them.
const LONG: u64 = 300;
/// Short calls.
const SHORT: u64 = 3;

/// One test at a time: a second pair of spinning processes would make the machine busy.
static MACHINE: Mutex<()> = Mutex::new(());

fn machine() -> std::sync::MutexGuard<'static, ()> {
    MACHINE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn options() -> ProcessOptions {
    ProcessOptions::new(
        Options::default()
            .setup_timeout(Duration::from_secs(10))
            .transition_timeout(Duration::from_secs(10)),
    )
    .shutdown_grace(Duration::from_millis(200))
}

fn busy(micros: u64) {
    let end = Instant::now() + Duration::from_micros(micros);
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// The CPUs this thread may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed `cpu_set_t` is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live `cpu_set_t` of the size passed; pid 0 is this thread.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    assert_eq!(rc, 0, "sched_getaffinity");
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below the set's capacity.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// The counters these tests read, as the worker sends them.
const FIELDS: usize = 12;

fn to_words(s: &WaitStats) -> [u64; FIELDS] {
    [
        s.waits,
        s.answered_at_once,
        s.answered_while_spinning,
        s.answered_after_sleeping,
        s.spins,
        s.spins_skipped_shared_cpu,
        s.spins_skipped_busy,
        s.sleeps,
        s.naps,
        s.answered_after_nap,
        s.spurious_wakeups,
        s.backoffs,
    ]
}

/// `WaitStats` is `#[non_exhaustive]`: the tests read its counters through this copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    waits: u64,
    answered_at_once: u64,
    answered_while_spinning: u64,
    answered_after_sleeping: u64,
    spins: u64,
    skipped_shared_cpu: u64,
    skipped_busy: u64,
    sleeps: u64,
    naps: u64,
    answered_after_nap: u64,
    spurious_wakeups: u64,
    backoffs: u64,
}

impl Counts {
    fn from_words(w: [u64; FIELDS]) -> Counts {
        Counts {
            waits: w[0],
            answered_at_once: w[1],
            answered_while_spinning: w[2],
            answered_after_sleeping: w[3],
            spins: w[4],
            skipped_shared_cpu: w[5],
            skipped_busy: w[6],
            sleeps: w[7],
            naps: w[8],
            answered_after_nap: w[9],
            spurious_wakeups: w[10],
            backoffs: w[11],
        }
    }

    fn of(stats: &WaitStats) -> Counts {
        Counts::from_words(to_words(stats))
    }

    /// The counts of the waits between `earlier` and `self`.
    fn since(self, earlier: Counts) -> Counts {
        let (now, then) = (self.words(), earlier.words());
        Counts::from_words(std::array::from_fn(|i| now[i] - then[i]))
    }

    fn words(self) -> [u64; FIELDS] {
        [
            self.waits,
            self.answered_at_once,
            self.answered_while_spinning,
            self.answered_after_sleeping,
            self.spins,
            self.skipped_shared_cpu,
            self.skipped_busy,
            self.sleeps,
            self.naps,
            self.answered_after_nap,
            self.spurious_wakeups,
            self.backoffs,
        ]
    }

    /// The relations `WaitStats` documents between its counters.
    fn assert_consistent(&self, side: &str) {
        assert_eq!(
            self.answered_at_once + self.answered_while_spinning + self.answered_after_sleeping,
            self.waits,
            "{side}: every wait (none timed out here) ends one way: {self:?}"
        );
        assert!(self.naps <= self.sleeps, "{side}: {self:?}");
        assert!(
            self.answered_after_nap <= self.answered_while_spinning.min(self.naps),
            "{side}: {self:?}"
        );
    }

    /// Waits that had to wait and were free to spin: the peer ran elsewhere and the machine
    /// was not overcommitted.
    fn free_to_spin(&self) -> u64 {
        self.waits - self.answered_at_once - self.skipped_shared_cpu - self.skipped_busy
    }
}

#[test]
#[ignore = "worker half of the wait-path tests, started by them"]
fn worker_entry() {
    let Some(role) = role() else { return };
    if let Some(cpu) = std::env::var(CPU_ENV).ok().and_then(|cpu| cpu.parse().ok()) {
        support::pin(cpu);
    }
    let mut worker = WorkerChannel::from_env(0)
        .expect("open channel")
        .expect("started as a worker");
    assert_eq!(role, "worker", "unknown worker role");
    let result = worker.handle_transitions(|request| -> Result<(), String> {
        match request.kind() {
            WORK => busy(request.id()),
            REPORT => {
                let bytes: Vec<u8> = to_words(&request.wait_stats())
                    .iter()
                    .flat_map(|w| w.to_le_bytes())
                    .collect();
                return request.output().write(&bytes).map_err(|e| e.to_string());
            }
            STORM => storm(request.id()),
            other => return Err(format!("unknown kind {other}")),
        }
        request.output().write(b"").map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => std::process::exit(0),
        Err(ChannelError::ControllerGone { .. }) => {
            std::process::exit(tandem::channel::CONTROLLER_GONE_EXIT_STATUS)
        }
        Err(error) => panic!("worker failed: {error}"),
    }
}

/// Wakes the controller's reply futex as fast as it can without ever changing the word; exits
/// with status 3 after `millis` ms if that is not zero.
fn storm(millis: u64) {
    let reply = map_reply_word();
    let start = Instant::now();
    loop {
        for _ in 0..1000 {
            // SAFETY: FUTEX_WAKE only reads the address of a live, aligned word of a shared
            // mapping.
            unsafe {
                libc::syscall(libc::SYS_futex, reply.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
            }
        }
        if millis != 0 && start.elapsed() >= Duration::from_millis(millis) {
            std::process::exit(3);
        }
    }
}

/// The `reply` word of this worker's control block, through a mapping of its own.
fn map_reply_word() -> &'static AtomicU32 {
    support::control_word(REPLY_OFFSET)
}

/// A worker pinned to another CPU than the calling thread, which pins itself to its current
/// CPU (the caller runs on a thread of its own). `None` with fewer than two CPUs.
fn spawn_apart(base: &str) -> Option<Controller> {
    let cpus = allowed_cpus();
    if cpus.len() < 2 {
        return None;
    }
    // SAFETY: `sched_getcpu` only reads the CPU number.
    let here = usize::try_from(unsafe { libc::sched_getcpu() }).expect("sched_getcpu");
    let there = *cpus.iter().find(|&&cpu| cpu != here).expect("a second CPU");
    support::pin(here);
    let mut command: Command = role_command("worker_entry", "worker");
    command.env(CPU_ENV, there.to_string());
    Some(Controller::spawn(command, base, 0, options()).expect("spawn worker"))
}

/// Runs `calls` calls with `work_in_worker` µs of work in the worker and `work_between` µs in
/// the controller before each; returns the controller's counts for them.
fn run(controller: &mut Controller, calls: u64, work_in_worker: u64, work_between: u64) -> Counts {
    let before = Counts::of(&controller.wait_stats());
    for _ in 0..calls {
        busy(work_between);
        controller.to_worker().write(b"").unwrap();
        controller
            .do_transition(WORK, work_in_worker, |_| ())
            .expect("transition");
    }
    Counts::of(&controller.wait_stats()).since(before)
}

fn worker_counts(controller: &mut Controller) -> Counts {
    controller.to_worker().write(b"").unwrap();
    controller
        .do_transition(REPORT, 0, |mut reply| {
            let bytes = reply.to_vec().expect("report");
            let words: Vec<u64> = bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                .collect();
            Counts::from_words(words.try_into().expect("a report of FIELDS words"))
        })
        .expect("report")
}

/// How long a test keeps trying (long run, short run) pairs before it concludes: a machine
/// busy with other work makes every wait sleep (by design), which shows nothing either way,
/// so a test waits for a quieter moment, and fails if none comes.
const PATIENCE: Duration = Duration::from_secs(30);

/// Runs `attempt` until it could show what it checks, at most for [`PATIENCE`].
fn until_shown(mut attempt: impl FnMut() -> bool) {
    let start = Instant::now();
    let mut attempts = 0;
    while start.elapsed() < PATIENCE {
        attempts += 1;
        if attempt() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the machine was too busy to spin in all {attempts} attempts over {PATIENCE:?}");
}

/// Checks what a run of short calls after a run of long ones shows on one side: the long
/// calls were not answered by spinning alone (so the old design's budget would have
/// collapsed), and the short calls free to spin were answered while spinning again. Returns
/// `false` if too few waits were free to spin to tell.
fn answered_while_spinning_again(side: &str, long: Counts, short: Counts) -> bool {
    println!("{side}: long run {long:?}\n{side}: short run {short:?}");
    long.assert_consistent(side);
    short.assert_consistent(side);
    if long.free_to_spin() < long.waits / 2 || short.free_to_spin() < short.waits / 2 {
        println!("{side}: the machine was too busy to spin, trying again");
        return false;
    }
    // A long call outlasts any spin: it is caught after a nap, or after a sleep.
    assert!(
        long.answered_after_nap + long.answered_after_sleeping >= long.free_to_spin() * 9 / 10,
        "{side}: long calls answered by spinning alone: {long:?}"
    );
    // Every short call free to spin spins again (the first may still nap for a long one)...
    assert!(
        short.spins + 1 >= short.free_to_spin(),
        "{side}: short calls free to spin that did not: {short:?}"
    );
    // ...and most are answered while spinning (the old design answered 1 in 64 this way).
    assert!(
        short.answered_while_spinning * 2 >= short.free_to_spin(),
        "{side}: short calls not answered while spinning: {short:?}"
    );
    true
}

#[test]
fn after_long_calls_short_calls_are_answered_while_the_controller_spins() {
    let _machine = machine();
    std::thread::spawn(|| {
        let Some(mut controller) = spawn_apart("after-long") else {
            println!("one CPU: nothing spins by design");
            return;
        };
        until_shown(|| {
            let long = run(&mut controller, 300, LONG, 0);
            let short = run(&mut controller, 600, SHORT, 0);
            answered_while_spinning_again("controller", long, short)
        });
        controller.shutdown();
    })
    .join()
    .unwrap();
}

#[test]
fn after_long_gaps_short_gaps_are_answered_while_the_worker_spins() {
    let _machine = machine();
    std::thread::spawn(|| {
        let Some(mut controller) = spawn_apart("gaps") else {
            println!("one CPU: nothing spins by design");
            return;
        };
        until_shown(|| {
            // The controller works between calls: the worker waits for the next request.
            let start = worker_counts(&mut controller);
            run(&mut controller, 300, 0, LONG);
            let middle = worker_counts(&mut controller);
            run(&mut controller, 600, 0, SHORT);
            let end = worker_counts(&mut controller);
            answered_while_spinning_again("worker", middle.since(start), end.since(middle))
        });
        controller.shutdown();
    })
    .join()
    .unwrap();
}

/// The system call the thread named `name` of process `pid` is blocked in, as
/// `/proc/<pid>/task/<tid>/syscall` shows it (`202 0x… 0x0 …`: number, then arguments), or
/// `running`.
fn blocked_in(pid: u32, name: &str) -> Option<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .filter_map(Result::ok)
        .find(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| name.starts_with(comm.trim()))
        })
        .and_then(|task| std::fs::read_to_string(task.path().join("syscall")).ok())
}

#[test]
fn an_idle_worker_sleeps_without_a_time_out() {
    let _machine = machine();
    std::thread::spawn(|| {
        let mut controller = match spawn_apart("idle") {
            Some(controller) => controller,
            None => Controller::spawn(role_command("worker_entry", "worker"), "idle", 0, options())
                .expect("spawn worker"),
        };
        let pid = controller.pid().expect("a worker");
        // Calls with gaps long enough for naps, then none.
        run(&mut controller, 100, 0, LONG);
        let before = worker_counts(&mut controller);
        // The worker's serving thread is libtest's thread of the `worker_entry` test. Idle,
        // it must end in FUTEX_WAIT (op 0 on the shared word) with no time-out (NULL).
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        let asleep = loop {
            let syscall = blocked_in(pid, "worker_entry").expect("the worker's thread");
            let fields: Vec<&str> = syscall.split_whitespace().collect();
            if let [number, _, op, _, timeout, ..] = fields[..] {
                if number == libc::SYS_futex.to_string() && op == "0x0" && timeout == "0x0" {
                    break true;
                }
            }
            seen.push(syscall);
            if Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            asleep,
            "the idle worker never slept without a time-out: {seen:?}"
        );
        // The idle wait took one or two sleeps (a nap planned for the next call, then the
        // sleep without a time-out), not a loop of them.
        let idle = worker_counts(&mut controller).since(before);
        assert_eq!(idle.waits, 1, "{idle:?}");
        assert!(idle.sleeps <= 2, "{idle:?}");
        assert_eq!(idle.spurious_wakeups, 0, "{idle:?}");
        controller.shutdown();
    })
    .join()
    .unwrap();
}

/// Futex calls and back-offs a storm may cost per millisecond of waiting: three unproductive
/// wake-ups pass, the fourth backs off for the rest of the millisecond where no wake-up
/// reaches (the old wait path woke for each of a storm's wake-ups: hundreds per ms).
const WAKE_UPS_PER_MS: u64 = 5;

fn assert_storm_bounded(counts: Counts, waited: Duration) {
    println!("storm: {counts:?} over {waited:?}");
    let millis = waited.as_millis() as u64 + 1;
    assert!(counts.backoffs >= 1, "no back-off: {counts:?}");
    assert!(
        counts.sleeps + counts.backoffs <= WAKE_UPS_PER_MS * millis + 4,
        "{} futex sleeps and back-offs over {millis} ms: {counts:?}",
        counts.sleeps + counts.backoffs
    );
}

#[test]
fn a_futex_storm_makes_the_controller_back_off_until_its_time_out() {
    let _machine = machine();
    let options = options();
    let channel = options.channel().clone();
    let options = options.with_channel(channel.transition_timeout(Duration::from_millis(300)));
    let mut controller =
        Controller::spawn(role_command("worker_entry", "worker"), "storm", 0, options)
            .expect("spawn worker");
    let before = Counts::of(&controller.wait_stats());
    controller.to_worker().write(b"").unwrap();
    let error = controller
        .do_transition(STORM, 0, |_| ())
        .expect_err("a worker that never answers");
    let after = match error {
        ChannelError::TransitionTimedOut { after, .. } => after,
        other => panic!("expected a time-out, got {other}"),
    };
    let counts = Counts::of(&controller.wait_stats()).since(before);
    assert_storm_bounded(counts, after);
    // Dropping the controller kills the storming worker.
}

#[test]
fn a_futex_storm_does_not_hide_the_workers_death() {
    let _machine = machine();
    let mut controller = Controller::spawn(
        role_command("worker_entry", "worker"),
        "storm-death",
        0,
        options(),
    )
    .expect("spawn worker");
    let before = Counts::of(&controller.wait_stats());
    controller.to_worker().write(b"").unwrap();
    let start = Instant::now();
    // Storms for 200 ms, then exits: reported as a death, well before the 10 s time-out.
    let error = controller
        .do_transition(STORM, 200, |_| ())
        .expect_err("a worker that dies");
    let waited = start.elapsed();
    assert!(
        matches!(error, ChannelError::WorkerDied { .. }),
        "expected the worker's death, got {error}"
    );
    let counts = Counts::of(&controller.wait_stats()).since(before);
    assert_storm_bounded(counts, waited);
}
