//! A worker for `typed_e2e` built from a changed payload definition: a copy of
//! `generator_types` in which `Particle::pdg_id` is an `i64` instead of an `i32`. Everything
//! else (names, transitions, setup) is the same, so only the payload fingerprint tells the
//! two apart, and the controller must refuse this worker at setup.
//!
//! Like `generator_worker`, started by `typed_e2e` (role `generator_worker_changed`).

use tandem::{Context, Payload, Transitions, WorkerError};

#[derive(Payload)]
struct Particle {
    pdg_id: i64,
    px: f64,
    py: f64,
    pz: f64,
    e: f64,
}

#[derive(Payload)]
struct GenEvent {
    particles: Vec<Particle>,
    weight: f64,
    rng: RngState,
}

#[derive(Payload)]
struct RngState {
    state: u64,
}

#[derive(Payload)]
struct RunConfig {
    run: u32,
    energy: f64,
}

#[derive(Payload)]
struct LumiHeader {
    run: u32,
    lumi: u32,
    seed: u64,
}

#[derive(Payload)]
struct LumiSummary {
    lumi: u32,
    events: u32,
    kept: u32,
    particles: u64,
    sum_weight: f64,
}

#[derive(Payload)]
struct RunSummary {
    run: u32,
    lumis: u32,
    events: u64,
    label: String,
    tune: Option<String>,
}

#[derive(Payload)]
struct GenConfig {
    label: String,
    tune: Option<String>,
    max_particles: u32,
    fail_event: Option<u64>,
    crash_once: Option<(u64, String)>,
    slow_event: Option<(u64, u64)>,
}

// Only the controller constructs the variants; this binary is only ever a worker.
#[allow(dead_code)]
#[derive(Transitions)]
#[transitions(setup = GenConfig)]
enum Generator {
    #[transition(input = RunConfig, replay)]
    BeginRun,
    #[transition(input = RngState, output = LumiHeader, replay)]
    BeginLumi,
    #[transition(input = RngState, output = GenEvent)]
    Event,
    #[transition(output = LumiSummary)]
    EndLumi,
    #[transition(output = RunSummary)]
    EndRun,
}

/// Never gets past setup: every transition is an error.
struct Refused;

const UNREACHABLE: &str = "a worker with a changed payload definition must be refused at setup";

impl GeneratorWorker for Refused {
    fn begin_run(&mut self, _: &mut Context, _: RunConfig) -> Result<(), WorkerError> {
        Err(UNREACHABLE.into())
    }

    fn begin_lumi(&mut self, _: &mut Context, _: RngState) -> Result<LumiHeader, WorkerError> {
        Err(UNREACHABLE.into())
    }

    fn event(&mut self, _: &mut Context, _: RngState) -> Result<GenEvent, WorkerError> {
        Err(UNREACHABLE.into())
    }

    fn end_lumi(&mut self, _: &mut Context) -> Result<LumiSummary, WorkerError> {
        Err(UNREACHABLE.into())
    }

    fn end_run(&mut self, _: &mut Context) -> Result<RunSummary, WorkerError> {
        Err(UNREACHABLE.into())
    }
}

/// Serves the changed transitions (or rather refuses to, at setup).
pub fn serve() {
    match Refused::serve_from_env(|_| Ok(Refused)) {
        Ok(true) => {}
        Ok(false) => panic!("started as `generator_worker_changed` without a channel"),
        Err(error) => {
            eprintln!("generator_worker_changed: {error}");
            std::process::exit(2);
        }
    }
}
