//! The worker side: the transitions between controller and generator worker and the worker
//! that serves them, as in the reference's external generator. The controller owns the
//! random-number state and sends it with every event; the worker generates from it, applies
//! the filter (the keep flag) and sends the event back with the state it reached.
//!
//! A worker's counts die with it, so the job's lumi and run summaries are computed by the
//! controller from the events it receives; the counts a worker reports at end-lumi and
//! end-run cover only what that process served since it started (or was replayed into the
//! block) and serve as a cross-check of the controller's bookkeeping.

use tandem::{Context, Payload, Transitions, WorkerError};

use crate::event::GenEvent;
use crate::physics::{passes_filter, Process, RngState};

/// How an injected failure kills the worker.
#[derive(Payload, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CrashKind {
    /// A write through a null pointer (SIGSEGV).
    Segv,
    /// `abort()` (SIGABRT).
    Abort,
    /// Unbounded recursion on the main thread (stack overflow).
    Overflow,
    /// `exit(3)` in the middle of the event.
    Exit,
    /// Sleeps for ever: the transition time-out must catch it.
    Hang,
}

impl CrashKind {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CrashKind::Segv => "segv",
            CrashKind::Abort => "abort",
            CrashKind::Overflow => "overflow",
            CrashKind::Exit => "exit",
            CrashKind::Hang => "hang",
        }
    }
}

/// Where an injected failure strikes.
#[derive(Payload, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// In the selected events, on their first attempt.
    Event,
    /// In begin-lumi of the selected sections, on its first attempt.
    BeginLumi,
    /// In end-lumi of the selected sections, in every worker that took part (an end is
    /// not retried: the lost worker's counts are lost with it).
    EndLumi,
    /// In end-run, in every worker that took part.
    EndRun,
}

/// The crash injection a worker is set up with.
#[derive(Payload, Debug, Clone, Copy, PartialEq)]
pub struct CrashInjection {
    /// The fraction of events (or lumi sections) that fail.
    pub probability: f64,
    /// How they fail.
    pub kind: CrashKind,
    /// Where.
    pub at: CrashPoint,
}

/// The worker's setup payload.
#[derive(Payload, Debug, Clone, PartialEq)]
pub struct GeneratorSetup {
    /// The job's seed: selects the events that crash.
    pub seed: u64,
    /// Failures to inject, if any.
    pub crash: Option<CrashInjection>,
}

/// Begin-run input.
#[derive(Payload, Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunStart {
    /// The run number.
    pub run: u32,
}

/// Begin-lumi input.
#[derive(Payload, Debug, Clone, Copy, PartialEq, Eq)]
pub struct LumiStart {
    /// The run number.
    pub run: u32,
    /// The luminosity section.
    pub lumi: u32,
}

/// Event input: what the worker needs to generate one event.
#[derive(Payload, Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRequest {
    /// The event number.
    pub number: u64,
    /// The random-number state to generate from.
    pub rng: RngState,
}

/// Event output: the event and the random-number state the worker reached.
#[derive(Payload, Debug, Clone, PartialEq)]
pub struct EventReply {
    /// The generated event.
    pub event: GenEvent,
    /// The state after generating it.
    pub rng: RngState,
}

/// What one worker process served in a block (lumi or run) since it started or was
/// replayed into it.
#[derive(Payload, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Served {
    /// Events generated.
    pub events: u64,
    /// Events the filter kept.
    pub kept: u64,
}

/// The protocol between controller and generator worker.
#[derive(Transitions)]
#[transitions(setup = GeneratorSetup)]
pub enum Generator {
    /// Starts a run; replayed into a restarted worker.
    #[transition(input = RunStart, replay)]
    BeginRun,
    /// Starts a luminosity section; replayed into a restarted worker.
    #[transition(input = LumiStart, replay)]
    BeginLumi,
    /// Generates one event; the keep flag carries the filter decision.
    #[transition(input = EventRequest, output = EventReply, item)]
    Event,
    /// Ends the luminosity section: what this process served in it.
    #[transition(output = Served, end)]
    EndLumi,
    /// Ends the run: what this process served in it.
    #[transition(output = Served, end)]
    EndRun,
}

/// The generator as it lives in a worker process.
pub struct GeneratorProcess {
    setup: GeneratorSetup,
    process: Process,
    lumi: Served,
    run: Served,
    /// The current lumi section.
    lumi_number: u32,
}

impl GeneratorProcess {
    /// A worker for `setup`.
    pub fn new(setup: GeneratorSetup) -> GeneratorProcess {
        GeneratorProcess {
            setup,
            process: Process::new(),
            lumi: Served::default(),
            run: Served::default(),
            lumi_number: 0,
        }
    }

    /// Fails as injected if `at` is the injection's point and `selected` says this one.
    fn inject(&self, at: CrashPoint, what: &str, selected: impl Fn(u64, f64) -> bool) {
        if let Some(crash) = self.setup.crash {
            if crash.at == at && selected(self.setup.seed, crash.probability) {
                eprintln!(
                    "tandem-generator worker: injected {} while processing {what}",
                    crash.kind.name()
                );
                fail(crash.kind);
            }
        }
    }
}

/// Lumi sections are selected like events, from numbers no event has.
fn lumi_selected(seed: u64, lumi: u32, probability: f64) -> bool {
    crash_selected(seed, u64::from(lumi) | 1 << 63, probability)
}

/// Whether event `number` is one that fails on its first attempt: a hash of (seed, event)
/// below `probability`, so the choice is the same in every run with this seed.
pub fn crash_selected(seed: u64, number: u64, probability: f64) -> bool {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..].copy_from_slice(&number.to_le_bytes());
    let hash = xxhash_rust::xxh3::xxh3_64_with_seed(&bytes, 0x0063_7261_7368); // "crash" in ASCII
    ((hash >> 11) as f64 * (1.0 / (1u64 << 53) as f64)) < probability
}

impl GeneratorWorker for GeneratorProcess {
    fn begin_run(&mut self, _context: &mut Context, _input: RunStart) -> Result<(), WorkerError> {
        self.run = Served::default();
        Ok(())
    }

    fn begin_lumi(&mut self, context: &mut Context, input: LumiStart) -> Result<(), WorkerError> {
        if context.attempt() == 1 {
            let what = format!("begin-lumi {}", input.lumi);
            self.inject(CrashPoint::BeginLumi, &what, |seed, p| {
                lumi_selected(seed, input.lumi, p)
            });
        }
        self.lumi = Served::default();
        self.lumi_number = input.lumi;
        Ok(())
    }

    fn event(
        &mut self,
        context: &mut Context,
        request: EventRequest,
    ) -> Result<EventReply, WorkerError> {
        // The pool retries a failed event with the attempt number in the context: only the
        // first attempt fails, as a transient bug would.
        if context.attempt() == 1 {
            let what = format!("event {}", request.number);
            self.inject(CrashPoint::Event, &what, |seed, p| {
                crash_selected(seed, request.number, p)
            });
        }
        let mut rng = request.rng.rng();
        let event = self.process.generate(request.number, &mut rng);
        let keep = passes_filter(&event);
        context.set_keep(keep);
        for served in [&mut self.lumi, &mut self.run] {
            served.events += 1;
            served.kept += u64::from(keep);
        }
        Ok(EventReply {
            event,
            rng: RngState::of(&rng),
        })
    }

    fn end_lumi(&mut self, _context: &mut Context) -> Result<Served, WorkerError> {
        let lumi = self.lumi_number;
        self.inject(
            CrashPoint::EndLumi,
            &format!("end-lumi {lumi}"),
            |seed, p| lumi_selected(seed, lumi, p),
        );
        Ok(self.lumi)
    }

    fn end_run(&mut self, _context: &mut Context) -> Result<Served, WorkerError> {
        self.inject(CrashPoint::EndRun, "end-run", |_, _| true);
        Ok(self.run)
    }
}

/// Stands for the bugs of a legacy generator. Never inlined: the crash report's backtrace
/// names it, as it would name the legacy code's faulting function.
#[inline(never)]
fn fail(kind: CrashKind) {
    match kind {
        CrashKind::Segv => {
            let pointer = std::hint::black_box(std::ptr::null_mut::<u64>());
            // SAFETY: none: this is the injected bug. The write faults with SIGSEGV before
            // anything can observe it.
            unsafe { pointer.write_volatile(1) };
        }
        CrashKind::Abort => std::process::abort(),
        CrashKind::Overflow => {
            recurse(0);
        }
        CrashKind::Exit => std::process::exit(3),
        CrashKind::Hang => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
    }
}

/// Recursion the optimiser cannot remove: each frame keeps a buffer alive across the call.
/// It never returns: the stack overflows first, which is the point.
#[allow(unconditional_recursion)]
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 512]);
    recurse(depth + 1).wrapping_add(frame[(depth % 512) as usize])
}
