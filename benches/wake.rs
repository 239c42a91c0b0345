//! Wake-up cost between two processes, measured in one run: tandem's channel (spin then
//! futex, and futex only) against a ping-pong of two `raw_sync` events, the blocking
//! primitive tandem does not use. Also shows raw_sync's timed-wait defect, and the share of
//! waits each end answered while spinning over 10,000 back-to-back transitions.
//!
//! Run: `cargo bench -p tandem-bench --bench wake --features raw-sync`. Prints a table; no assertion on speed.
//! `-- --quick`, and `cargo test -p tandem-bench --benches` (which passes no `--bench`), run
//! a short version whose figures only prove that every path works.

use std::process::Command;
use std::time::{Duration, Instant};

use raw_sync::events::{Event, EventInit, EventState};
use raw_sync::Timeout;
use tandem::{channel::WaitStats, Controller, Options, WorkerChannel};

/// Set in the environment of the worker of [`report_spin_share`], which then prints its own
/// wait statistics once the controller has stopped it.
const REPORT_WAITS: &str = "TANDEM_BENCH_REPORT_WAITS";

/// Back-to-back transitions behind the spin share (the figure the issue asks for).
const SPIN_SHARE_TRANSITIONS: u64 = 10_000;

/// How long each measurement runs.
#[derive(Clone, Copy)]
struct Rounds {
    warm_up: u32,
    measured: u32,
    timed_waits: u32,
}

impl Rounds {
    const FULL: Rounds = Rounds {
        warm_up: 1000,
        measured: 20_000,
        timed_waits: 5,
    };
    const QUICK: Rounds = Rounds {
        warm_up: 100,
        measured: 1000,
        timed_waits: 1,
    };

    /// Full only under `cargo bench` (which passes `--bench`) without `--quick`.
    fn from_args() -> Rounds {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let bench = args.iter().any(|arg| arg == "--bench");
        let quick = args.iter().any(|arg| arg == "--quick");
        if bench && !quick {
            Rounds::FULL
        } else {
            Rounds::QUICK
        }
    }
}

fn main() {
    if let Some(mut worker) = WorkerChannel::from_env(0).expect("open channel") {
        let result = worker.handle_transitions(|_| Ok::<(), String>(()));
        if result.is_ok() && std::env::var_os(REPORT_WAITS).is_some() {
            print_spin_share("worker", worker.wait_stats());
        }
        std::process::exit(i32::from(result.is_err()));
    }
    let rounds = Rounds::from_args();
    // raw_sync first: it forks, which is only sound while this process has one thread.
    let raw = raw_sync_round_trip(rounds);
    let failed = raw_sync_timed_wait_failures(rounds.timed_waits);
    let spin = tandem_round_trip(None, rounds);
    let futex = tandem_round_trip(Some(Duration::ZERO), rounds);
    let measured = rounds.measured;
    println!("round trip of an empty message between two processes, mean of {measured}:");
    println!("  tandem, spin then futex : {:>9.2?}", spin);
    println!("  tandem, futex only      : {:>9.2?}", futex);
    println!("  raw_sync Event pair     : {:>9.2?}", raw);
    println!(
        "  ratios: raw_sync / tandem spin = {:.1}, raw_sync / tandem futex = {:.1}",
        raw.as_secs_f64() / spin.as_secs_f64(),
        raw.as_secs_f64() / futex.as_secs_f64()
    );
    println!(
        "raw_sync timed waits of 999 ms that failed at once (EINVAL from an unnormalised deadline): {failed} of {}",
        rounds.timed_waits
    );
    report_spin_share();
}

fn tandem_round_trip(spin: Option<Duration>, rounds: Rounds) -> Duration {
    let mut options = Options::default();
    if let Some(spin) = spin {
        options = options.spin(spin);
    }
    let exe = std::env::current_exe().expect("bench executable");
    let mut controller =
        Controller::spawn(Command::new(exe), "wake", 0, options).expect("spawn worker");
    controller.to_worker().write(&[]).expect("write");
    for id in 0..u64::from(rounds.warm_up) {
        controller.do_transition(0, id, |_| ()).expect("warm-up");
    }
    let start = Instant::now();
    for id in 0..u64::from(rounds.measured) {
        controller.do_transition(0, id, |_| ()).expect("transition");
    }
    start.elapsed() / rounds.measured
}

/// Two auto-reset events in an anonymous shared mapping; a forked child answers each ping.
fn raw_sync_round_trip(rounds: Rounds) -> Duration {
    let size = 4096;
    // SAFETY: a fresh anonymous shared mapping aliases nothing; it is never unmapped (the
    // process ends soon after).
    let memory = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(memory, libc::MAP_FAILED, "mmap failed");
    let memory = memory.cast::<u8>();
    // SAFETY: the mapping is 4096 bytes, far more than two events need, and lives on.
    let (ping, used) = unsafe { Event::new(memory, true) }.expect("ping event");
    // SAFETY: as above, after the first event's bytes.
    let (pong, _) = unsafe { Event::new(memory.add(used), true) }.expect("pong event");
    // SAFETY: this process has a single thread here, so the child may run ordinary code.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork failed");
    if child == 0 {
        for _ in 0..rounds.warm_up + rounds.measured {
            ping.wait(Timeout::Infinite).expect("child wait");
            pong.set(EventState::Signaled).expect("child set");
        }
        // SAFETY: _exit ends the forked child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    let round = || {
        ping.set(EventState::Signaled).expect("set");
        pong.wait(Timeout::Infinite).expect("wait");
    };
    for _ in 0..rounds.warm_up {
        round();
    }
    let start = Instant::now();
    for _ in 0..rounds.measured {
        round();
    }
    let elapsed = start.elapsed() / rounds.measured;
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(child, &mut status, 0) };
    elapsed
}

/// raw_sync adds the time-out's nanoseconds to the clock's without carrying into seconds;
/// a deadline with `tv_nsec >= 1e9` makes the wait fail with EINVAL instead of waiting.
fn raw_sync_timed_wait_failures(tries: u32) -> u32 {
    let mut memory = vec![0u64; 512];
    // SAFETY: the buffer outlives the event and is large enough; only this thread uses it.
    let (event, _) = unsafe { Event::new(memory.as_mut_ptr().cast(), true) }.expect("event");
    let mut failed = 0;
    for _ in 0..tries {
        let start = Instant::now();
        let result = event.wait(Timeout::Val(Duration::from_millis(999)));
        if result.is_err() && start.elapsed() < Duration::from_millis(100) {
            failed += 1;
        }
    }
    failed
}

/// Runs [`SPIN_SHARE_TRANSITIONS`] back-to-back empty transitions on a fresh worker with the
/// default options, then prints, for each end, the share of its waits that were answered
/// while it was still spinning. The worker prints its own line (it holds its statistics)
/// when [`Controller::shutdown`] stops it; the controller's line follows.
///
/// Both ends count every wait of the worker's life: the controller's include the setup
/// handshake, the worker's the final wait that receives the stop, so the totals are a
/// couple above [`SPIN_SHARE_TRANSITIONS`].
fn report_spin_share() {
    let exe = std::env::current_exe().expect("bench executable");
    let mut command = Command::new(exe);
    command.env(REPORT_WAITS, "1");
    let mut controller =
        Controller::spawn(command, "wake-share", 0, Options::default()).expect("spawn worker");
    controller.to_worker().write(&[]).expect("write");
    for id in 0..SPIN_SHARE_TRANSITIONS {
        controller.do_transition(0, id, |_| ()).expect("transition");
    }
    let counts = controller.wait_stats();
    // Waits for the worker to print its line and exit, so the two lines do not interleave.
    controller.shutdown();
    print_spin_share("controller", counts);
}

fn print_spin_share(end: &str, stats: WaitStats) {
    println!(
        "{end:<10} {:.1} % of {} waits answered while spinning over {SPIN_SHARE_TRANSITIONS} \
         back-to-back transitions ({} at once, {} after sleeping; {} futex sleeps, {} naps, \
         {} wakes sent; a wake-up measured at {:.1?})",
        100.0 * stats.spin_share(),
        stats.waits,
        stats.answered_at_once,
        stats.answered_after_sleeping,
        stats.sleeps,
        stats.naps,
        stats.wakes_sent,
        stats.wake_up,
    );
}
