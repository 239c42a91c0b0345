//! A toy event generator run in a worker process, driven through the five transitions of a
//! physics run, with the random-number state kept by the controller so that the output is
//! reproducible however events are spread over workers.
//!
//! Run: `cargo run -p tandem-generator`. The same binary acts as controller, and as worker
//! when the controller starts it (the one-binary pattern).

use std::process::Command;
use std::time::Duration;

use tandem::{Context, Options, Payload, Transitions, WorkerError};

/// A generated particle.
#[derive(Payload, Debug, Clone, PartialEq)]
pub struct Particle {
    pdg_id: i32,
    px: f64,
    py: f64,
    pz: f64,
    e: f64,
}

/// The random-number state the controller owns and lends to the worker.
#[derive(Payload, Debug, Clone, Copy, PartialEq)]
pub struct RngState {
    state: u64,
}

/// One event: its particles, a weight and the state to continue from.
#[derive(Payload, Debug, Clone, PartialEq)]
pub struct GenEvent {
    particles: Vec<Particle>,
    weight: f64,
    rng: RngState,
}

/// Configuration delivered during setup.
#[derive(Payload, Debug, Clone)]
pub struct GenConfig {
    process: String,
    max_particles: u32,
}

/// Begin-run input.
#[derive(Payload, Debug, Clone)]
pub struct RunConfig {
    run: u32,
    beam_energy: f64,
}

/// Begin-lumi output.
#[derive(Payload, Debug, Clone)]
pub struct LumiHeader {
    lumi_seed: u64,
    rng: RngState,
}

/// End-lumi output.
#[derive(Payload, Debug, Clone)]
pub struct LumiSummary {
    events: u32,
}

/// End-run output.
#[derive(Payload, Debug, Clone)]
pub struct RunSummary {
    process: String,
    events: u32,
    particles: u64,
}

/// The protocol between controller and worker.
#[derive(Transitions)]
#[transitions(setup = GenConfig)]
pub enum Generator {
    /// Starts a run.
    #[transition(input = RunConfig, replay)]
    BeginRun,
    /// Starts a luminosity block.
    #[transition(input = RngState, output = LumiHeader, replay)]
    BeginLumi,
    /// Generates one event.
    #[transition(input = RngState, output = GenEvent)]
    Event,
    /// Ends the luminosity block.
    #[transition(output = LumiSummary)]
    EndLumi,
    /// Ends the run.
    #[transition(output = RunSummary)]
    EndRun,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The "legacy generator" that lives in the worker process.
struct ToyGenerator {
    config: GenConfig,
    beam_energy: f64,
    events_in_lumi: u32,
    events: u32,
    particles: u64,
}

impl GeneratorWorker for ToyGenerator {
    fn begin_run(&mut self, _context: &mut Context, input: RunConfig) -> Result<(), WorkerError> {
        self.beam_energy = input.beam_energy;
        Ok(())
    }

    fn begin_lumi(
        &mut self,
        _context: &mut Context,
        mut rng: RngState,
    ) -> Result<LumiHeader, WorkerError> {
        self.events_in_lumi = 0;
        let lumi_seed = splitmix(&mut rng.state);
        Ok(LumiHeader { lumi_seed, rng })
    }

    fn event(&mut self, context: &mut Context, mut rng: RngState) -> Result<GenEvent, WorkerError> {
        let count = 1 + splitmix(&mut rng.state) % u64::from(self.config.max_particles);
        let particles: Vec<Particle> = (0..count)
            .map(|_| {
                let mut momentum =
                    || (splitmix(&mut rng.state) % 10_000) as f64 / 10_000.0 * self.beam_energy;
                let (px, py, pz) = (momentum(), momentum(), momentum());
                Particle {
                    pdg_id: if splitmix(&mut rng.state) % 2 == 0 {
                        211
                    } else {
                        -211
                    },
                    px,
                    py,
                    pz,
                    e: (px * px + py * py + pz * pz).sqrt(),
                }
            })
            .collect();
        // The filter decision travels beside the payload.
        context.set_keep(count % 2 == 0);
        self.events += 1;
        self.events_in_lumi += 1;
        self.particles += count;
        Ok(GenEvent {
            particles,
            weight: 1.0 / count as f64,
            rng,
        })
    }

    fn end_lumi(&mut self, _context: &mut Context) -> Result<LumiSummary, WorkerError> {
        Ok(LumiSummary {
            events: self.events_in_lumi,
        })
    }

    fn end_run(&mut self, _context: &mut Context) -> Result<RunSummary, WorkerError> {
        Ok(RunSummary {
            process: self.config.process.clone(),
            events: self.events,
            particles: self.particles,
        })
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Worker: serve and exit. Controller: fall through.
    let served = ToyGenerator::serve_from_env(|config| {
        Ok(ToyGenerator {
            config,
            beam_energy: 0.0,
            events_in_lumi: 0,
            events: 0,
            particles: 0,
        })
    })?;
    if served {
        return Ok(());
    }

    let options = Options::default()
        .setup_timeout(Duration::from_secs(5))
        .transition_timeout(Duration::from_secs(5));
    let setup = GenConfig {
        process: "pi+ pi- gun".to_owned(),
        max_particles: 12,
    };
    let mut generator =
        GeneratorController::spawn(Command::new(std::env::current_exe()?), 0, options, &setup)?;
    println!(
        "worker {} started",
        generator.typed_mut().controller().pid().unwrap_or(0)
    );

    generator.begin_run(
        1,
        &RunConfig {
            run: 1,
            beam_energy: 6800.0,
        },
    )?;
    let mut rng = RngState { state: 2026 };
    let header = generator.begin_lumi(1, &rng)?.output;
    rng = header.rng;
    println!("lumi 1: seed {:#x}", header.lumi_seed);
    let mut kept = 0;
    for id in 1..=5 {
        let response = generator.event(id, &rng)?;
        rng = response.output.rng;
        kept += u32::from(response.keep);
        println!(
            "event {id}: {:2} particles, weight {:.3}, keep {}",
            response.output.particles.len(),
            response.output.weight,
            response.keep
        );
    }
    let lumi = generator.end_lumi(1)?.output;
    let run = generator.end_run(1)?.output;
    println!(
        "lumi 1: {} events ({kept} kept); run 1 of `{}`: {} events, {} particles",
        lumi.events, run.process, run.events, run.particles
    );
    Ok(())
}
