//! Wake-up cost between two processes, measured in one run: tandem's channel (spin then
//! futex, and futex only) against a ping-pong of two `raw_sync` events, the blocking
//! primitive tandem does not use. Also shows raw_sync's timed-wait defect.
//!
//! Run: `cargo bench --bench wake`. Prints a table; no assertion on speed.

use std::process::Command;
use std::time::{Duration, Instant};

use raw_sync::events::{Event, EventInit, EventState};
use raw_sync::Timeout;
use tandem::{Controller, Options, WorkerChannel};

const ROUNDS: u32 = 20_000;

fn main() {
    if let Some(mut worker) = WorkerChannel::from_env(0).expect("open channel") {
        let result = worker.handle_transitions(|_| Ok::<(), String>(()));
        std::process::exit(i32::from(result.is_err()));
    }
    // raw_sync first: it forks, which is only sound while this process has one thread.
    let raw = raw_sync_round_trip();
    let failed = raw_sync_timed_wait_failures();
    let spin = tandem_round_trip(None);
    let futex = tandem_round_trip(Some(Duration::ZERO));
    println!("round trip of an empty message between two processes, mean of {ROUNDS}:");
    println!("  tandem, spin then futex : {:>9.2?}", spin);
    println!("  tandem, futex only      : {:>9.2?}", futex);
    println!("  raw_sync Event pair     : {:>9.2?}", raw);
    println!(
        "  ratios: raw_sync / tandem spin = {:.1}, raw_sync / tandem futex = {:.1}",
        raw.as_secs_f64() / spin.as_secs_f64(),
        raw.as_secs_f64() / futex.as_secs_f64()
    );
    println!("raw_sync timed waits of 999 ms that failed at once (EINVAL from an unnormalised deadline): {failed} of 5");
}

fn tandem_round_trip(spin: Option<Duration>) -> Duration {
    let mut options = Options::default();
    if let Some(spin) = spin {
        options = options.spin(spin);
    }
    let exe = std::env::current_exe().expect("bench executable");
    let mut controller =
        Controller::spawn(Command::new(exe), "wake", 0, options).expect("spawn worker");
    controller.to_worker().write(&[]).expect("write");
    for id in 0..1000 {
        controller.do_transition(0, id, |_| ()).expect("warm-up");
    }
    let start = Instant::now();
    for id in 0..u64::from(ROUNDS) {
        controller.do_transition(0, id, |_| ()).expect("transition");
    }
    start.elapsed() / ROUNDS
}

/// Two auto-reset events in an anonymous shared mapping; a forked child answers each ping.
fn raw_sync_round_trip() -> Duration {
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
        for _ in 0..ROUNDS + 1000 {
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
    for _ in 0..1000 {
        round();
    }
    let start = Instant::now();
    for _ in 0..ROUNDS {
        round();
    }
    let elapsed = start.elapsed() / ROUNDS;
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(child, &mut status, 0) };
    elapsed
}

/// raw_sync adds the time-out's nanoseconds to the clock's without carrying into seconds;
/// a deadline with `tv_nsec >= 1e9` makes the wait fail with EINVAL instead of waiting.
fn raw_sync_timed_wait_failures() -> u32 {
    let mut memory = vec![0u64; 512];
    // SAFETY: the buffer outlives the event and is large enough; only this thread uses it.
    let (event, _) = unsafe { Event::new(memory.as_mut_ptr().cast(), true) }.expect("event");
    let mut failed = 0;
    for _ in 0..5 {
        let start = Instant::now();
        let result = event.wait(Timeout::Val(Duration::from_millis(999)));
        if result.is_err() && start.elapsed() < Duration::from_millis(100) {
            failed += 1;
        }
    }
    failed
}
