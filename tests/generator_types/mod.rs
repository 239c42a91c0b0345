//! The example, shared by `typed_e2e` (the controller) and `generator_worker` (the
//! worker binary): the payload types, the `Generator` transitions and a deterministic toy
//! generator.
//!
//! [`ToyGenerator`] is pure: given the same run configuration, lumi seed and event input it
//! produces the same event in every process, so the controller computes the outputs it
//! expects from the worker with the very same code. [`ToyWorker`] wraps it as a
//! `GeneratorWorker` and adds the failures the tests inject through [`GenConfig`].
#![allow(dead_code)]

use tandem::{Context, Payload, Transitions, WorkerError};

/// One generated particle.
#[derive(Payload, Debug, Clone, PartialEq)]
pub struct Particle {
    pub pdg_id: i32,
    pub px: f64,
    pub py: f64,
    pub pz: f64,
    pub e: f64,
}

/// One generated event, with the random-number state after it.
#[derive(Payload, Debug, Clone, PartialEq)]
pub struct GenEvent {
    pub particles: Vec<Particle>,
    pub weight: f64,
    pub rng: RngState,
}

/// SplitMix64 state: the controller hands one to every lumi and event.
#[derive(Payload, Debug, Clone, Copy, PartialEq, Eq)]
pub struct RngState {
    pub state: u64,
}

/// Input of `begin_run`.
#[derive(Payload, Debug, Clone, PartialEq)]
pub struct RunConfig {
    pub run: u32,
    /// Beam energy in GeV: scales the momenta.
    pub energy: f64,
}

/// Output of `begin_lumi`.
#[derive(Payload, Debug, Clone, PartialEq)]
pub struct LumiHeader {
    pub run: u32,
    /// 1 for the first lumi of the run.
    pub lumi: u32,
    /// The lumi's seed, drawn from the input state.
    pub seed: u64,
}

/// Output of `end_lumi`.
#[derive(Payload, Debug, Clone, PartialEq)]
pub struct LumiSummary {
    pub lumi: u32,
    pub events: u32,
    pub kept: u32,
    pub particles: u64,
    pub sum_weight: f64,
}

/// Output of `end_run`; echoes the setup so the test sees that it reached the worker.
#[derive(Payload, Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub run: u32,
    pub lumis: u32,
    pub events: u64,
    pub label: String,
    pub tune: Option<String>,
}

/// The setup payload, delivered during the handshake.
#[derive(Payload, Debug, Clone, PartialEq, Default)]
pub struct GenConfig {
    /// Echoed in [`RunSummary::label`].
    pub label: String,
    /// Echoed in [`RunSummary::tune`].
    pub tune: Option<String>,
    /// Events have between 1 and this many particles.
    pub max_particles: u32,
    /// The event id for which `event` returns an error.
    pub fail_event: Option<u64>,
    /// `(event id, flag file)`: the worker aborts on that event if the flag file does not
    /// exist yet, creating it first, so only its first life crashes.
    pub crash_once: Option<(u64, String)>,
    /// `(event id, milliseconds)`: the worker sleeps that long in that event, alive but slow.
    pub slow_event: Option<(u64, u64)>,
}

/// The transitions of the example.
#[derive(Transitions)]
#[transitions(setup = GenConfig)]
pub enum Generator {
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

/// SplitMix64: advances `state` and returns the next number.
pub fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform number in `[-1, 1)`.
fn symmetric(state: &mut u64) -> f64 {
    (splitmix(state) >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

const SPECIES: [(i32, f64); 6] = [
    (211, 0.139_57),
    (-211, 0.139_57),
    (22, 0.0),
    (11, 0.000_511),
    (-13, 0.105_66),
    (2212, 0.938_27),
];

/// The deterministic toy generator.
#[derive(Debug, Default)]
pub struct ToyGenerator {
    max_particles: u32,
    run: Option<RunConfig>,
    lumi: Option<LumiHeader>,
    lumis: u32,
    run_events: u64,
    summary: Option<LumiSummary>,
}

impl ToyGenerator {
    pub fn new(max_particles: u32) -> Self {
        ToyGenerator {
            max_particles: max_particles.max(1),
            ..ToyGenerator::default()
        }
    }

    pub fn begin_run(&mut self, config: RunConfig) {
        self.run = Some(config);
        self.lumi = None;
        self.lumis = 0;
        self.run_events = 0;
    }

    pub fn begin_lumi(&mut self, rng: RngState) -> Result<LumiHeader, String> {
        let run = self.run.as_ref().ok_or("begin_lumi before begin_run")?;
        let mut state = rng.state;
        self.lumis += 1;
        let header = LumiHeader {
            run: run.run,
            lumi: self.lumis,
            seed: splitmix(&mut state),
        };
        self.lumi = Some(header.clone());
        self.summary = Some(LumiSummary {
            lumi: header.lumi,
            events: 0,
            kept: 0,
            particles: 0,
            sum_weight: 0.0,
        });
        Ok(header)
    }

    /// The event and its keep flag (set for an even number of particles). Depends only on
    /// the run, the lumi seed and the input, not on earlier events.
    pub fn event(&mut self, rng: RngState) -> Result<(GenEvent, bool), String> {
        let energy = self.run.as_ref().ok_or("event before begin_run")?.energy;
        let seed = self.lumi.as_ref().ok_or("event before begin_lumi")?.seed;
        let mut state = rng.state;
        let mut mixed = seed ^ splitmix(&mut state);
        let count = 1 + (splitmix(&mut mixed) % u64::from(self.max_particles)) as usize;
        let particles: Vec<Particle> = (0..count)
            .map(|_| {
                let (pdg_id, mass) = SPECIES[(splitmix(&mut mixed) % 6) as usize];
                let px = energy * symmetric(&mut mixed);
                let py = energy * symmetric(&mut mixed);
                let pz = energy * symmetric(&mut mixed);
                let e = (px * px + py * py + pz * pz + mass * mass).sqrt();
                Particle {
                    pdg_id,
                    px,
                    py,
                    pz,
                    e,
                }
            })
            .collect();
        let weight = 0.5 + (splitmix(&mut mixed) % 1000) as f64 / 1000.0;
        let keep = count.is_multiple_of(2);
        let event = GenEvent {
            particles,
            weight,
            rng: RngState { state },
        };
        self.run_events += 1;
        if let Some(summary) = &mut self.summary {
            summary.events += 1;
            summary.kept += u32::from(keep);
            summary.particles += count as u64;
            summary.sum_weight += weight;
        }
        Ok((event, keep))
    }

    pub fn end_lumi(&mut self) -> Result<LumiSummary, String> {
        self.lumi = None;
        self.summary
            .take()
            .ok_or_else(|| "end_lumi without begin_lumi".to_owned())
    }

    pub fn end_run(&mut self, label: &str, tune: Option<&str>) -> Result<RunSummary, String> {
        let run = self.run.take().ok_or("end_run without begin_run")?;
        Ok(RunSummary {
            run: run.run,
            lumis: self.lumis,
            events: self.run_events,
            label: label.to_owned(),
            tune: tune.map(str::to_owned),
        })
    }
}

/// [`ToyGenerator`] served as a `GeneratorWorker`, with the failures of [`GenConfig`].
#[derive(Debug)]
pub struct ToyWorker {
    config: GenConfig,
    generator: ToyGenerator,
}

impl ToyWorker {
    pub fn new(config: GenConfig) -> Self {
        ToyWorker {
            generator: ToyGenerator::new(config.max_particles),
            config,
        }
    }
}

impl GeneratorWorker for ToyWorker {
    fn begin_run(&mut self, _: &mut Context, input: RunConfig) -> Result<(), WorkerError> {
        self.generator.begin_run(input);
        Ok(())
    }

    fn begin_lumi(&mut self, _: &mut Context, input: RngState) -> Result<LumiHeader, WorkerError> {
        Ok(self.generator.begin_lumi(input)?)
    }

    fn event(&mut self, context: &mut Context, input: RngState) -> Result<GenEvent, WorkerError> {
        let id = context.id();
        if self.config.fail_event == Some(id) {
            return Err(format!("the generator refuses event {id}").into());
        }
        if let Some((crash_id, flag)) = &self.config.crash_once {
            if *crash_id == id && std::fs::File::create_new(flag).is_ok() {
                std::process::abort();
            }
        }
        if let Some((slow_id, millis)) = self.config.slow_event {
            if slow_id == id {
                std::thread::sleep(std::time::Duration::from_millis(millis));
            }
        }
        let (event, keep) = self.generator.event(input)?;
        context.set_keep(keep);
        Ok(event)
    }

    fn end_lumi(&mut self, _: &mut Context) -> Result<LumiSummary, WorkerError> {
        Ok(self.generator.end_lumi()?)
    }

    fn end_run(&mut self, _: &mut Context) -> Result<RunSummary, WorkerError> {
        Ok(self
            .generator
            .end_run(&self.config.label, self.config.tune.as_deref())?)
    }
}
