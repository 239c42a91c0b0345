//! Section `crash`: what a crash report costs. A worker crashes (SIGSEGV through three
//! functions that are not inlined) in each of N transitions, restarted after each; the
//! controller measures the time from posting the transition to the typed `WorkerCrashed`, with
//! crash capture on and off, and the time `CrashBacktrace::frames` takes to unwind and
//! symbolize: the first time in this process (modules parsed) and afterwards (cached).

use std::time::{Duration, Instant};

use tandem::{crash::CrashCapture, ChannelError, Controller, WorkerChannel};

use crate::peer::{options, self_command, Placement};
use crate::report::{self, quantile, Record};

/// The transition kind that crashes the peer.
const CRASH: u32 = 7;

/// The peer: answers nothing, crashes on [`CRASH`].
pub fn serve_crasher() {
    let mut worker = WorkerChannel::from_env(0)
        .expect("open the channel")
        .expect("started as a worker");
    let served = worker.handle_transitions(|request| -> Result<(), String> {
        if request.kind() == CRASH {
            crash_level_a();
        }
        Ok(())
    });
    served.expect("serve transitions");
}

#[inline(never)]
fn crash_level_a() {
    crash_level_b();
    std::hint::black_box(());
}

#[inline(never)]
fn crash_level_b() {
    crash_level_c();
    std::hint::black_box(());
}

#[inline(never)]
fn crash_level_c() {
    let null: *mut u64 = std::hint::black_box(std::ptr::null_mut());
    // SAFETY: none: the write faults on purpose (SIGSEGV), which is what is measured.
    unsafe { null.write_volatile(1) };
}

/// One crash: the time from posting to the error, and the error.
fn crash_once(controller: &mut Controller, id: u64) -> (Duration, ChannelError) {
    controller.to_worker().write(&[]).expect("write the input");
    let began = Instant::now();
    let error = controller
        .do_transition(CRASH, id, |_| ())
        .expect_err("the worker crashes");
    (began.elapsed(), error)
}

/// Runs the section and adds its records.
pub fn run(crashes: usize, records: &mut Vec<Record>) {
    let mut on = Vec::with_capacity(crashes);
    let mut off = Vec::with_capacity(crashes);
    let mut first_symbolize = None;
    let mut later_symbolize = Vec::with_capacity(crashes);
    let mut frames_seen = 0;
    let mut names_levels = true;
    // Both settings side by side, crash after crash, so that load from elsewhere hits both.
    let mut controllers = [CrashCapture::new(), CrashCapture::disabled()].map(|capture| {
        let command = self_command("crasher", Placement::Unpinned);
        Controller::spawn(command, "bench-crash", 0, options().crash_capture(capture))
            .expect("start the crashing worker")
    });
    for id in 0..crashes as u64 {
        for (index, controller) in controllers.iter_mut().enumerate() {
            let (elapsed, error) = crash_once(controller, id);
            let ChannelError::WorkerCrashed { backtrace, .. } = &error else {
                panic!("expected a crash, got {error}");
            };
            if index == 1 {
                off.push(elapsed.as_nanos() as u64);
            } else {
                on.push(elapsed.as_nanos() as u64);
                let began = Instant::now();
                let frames = backtrace.frames();
                let took = began.elapsed().as_nanos() as u64;
                match first_symbolize {
                    None => first_symbolize = Some(took),
                    Some(_) => later_symbolize.push(took),
                }
                frames_seen = frames.len();
                let names: Vec<&str> = frames.iter().filter_map(|f| f.function()).collect();
                names_levels &= ["crash_level_c", "crash_level_b", "crash_level_a"]
                    .iter()
                    .all(|level| names.iter().any(|name| name.ends_with(level)));
            }
            controller.restart().expect("restart after the crash");
        }
    }
    on.sort_unstable();
    off.sort_unstable();
    later_symbolize.sort_unstable();
    let first = first_symbolize.map_or(f64::NAN, |ns| ns as f64);

    println!(
        "\n## Crash reports: {crashes} crashes per setting, the settings alternated, each worker \
         restarted after its crash (SIGSEGV three calls deep)\n"
    );
    println!("| figure | p50 | p99 |");
    println!("| --- | --- | --- |");
    for (label, sorted) in [
        ("post to `WorkerCrashed`, crash capture on", &on),
        ("post to `WorkerCrashed`, crash capture off", &off),
        (
            "`frames()`, later crashes (modules cached)",
            &later_symbolize,
        ),
    ] {
        println!(
            "| {label} | {} | {} |",
            report::time(quantile(sorted, 0.5)),
            report::time(quantile(sorted, 0.99))
        );
    }
    println!(
        "| `frames()`, first crash of this process (modules parsed) | {} | – |",
        report::time(first)
    );
    println!(
        "\n{frames_seen} frames per backtrace; the three crashing functions named in every \
         one: {names_levels}. Symbolizing runs only when a report is displayed or its frames \
         are asked for, never on the restart path."
    );
    for (mechanism, sorted, reference) in [
        ("post to WorkerCrashed, capture on", &on, "capture off"),
        ("post to WorkerCrashed, capture off", &off, ""),
        ("frames() cached", &later_symbolize, ""),
    ] {
        let ratio = (mechanism.ends_with("capture on") && !off.is_empty())
            .then(|| quantile(sorted, 0.5) / quantile(&off, 0.5));
        records.push(Record {
            section: "crash",
            mechanism: mechanism.to_owned(),
            condition: "unpinned".to_owned(),
            bytes: 0,
            count: sorted.len(),
            p50_ns: quantile(sorted, 0.5),
            p99_ns: quantile(sorted, 0.99),
            rate: 0.0,
            ratio,
            reference: reference.to_owned(),
            extra: vec![("first_frames_ns".to_owned(), first)],
        });
    }
}
