//! The event record shared by the physics, the worker protocol, the HepMC3 writer and the
//! digest: particles and vertices numbered as HepMC3 numbers them.

use tandem::Payload;

/// One particle of an event. Its HepMC3 id is its index in [`GenEvent::particles`] plus one.
#[derive(Payload, Debug, Clone, Copy, PartialEq)]
pub struct Particle {
    /// PDG Monte Carlo particle number (11 e-, -11 e+, 13 mu-, -13 mu+, 23 Z).
    pub pdg_id: i32,
    /// HepMC status: 4 beam particle, 2 decayed, 1 final state.
    pub status: i32,
    /// The production vertex as its HepMC3 id (-1, -2, ...), or 0 for none (beams).
    pub production_vertex: i32,
    /// Four-momentum in GeV: px, py, pz, E.
    pub momentum: [f64; 4],
    /// The generated mass in GeV (the virtuality for the Z).
    pub mass: f64,
}

/// One vertex. Its HepMC3 id is minus its index in [`GenEvent::vertices`] minus one.
#[derive(Payload, Debug, Clone, PartialEq)]
pub struct Vertex {
    /// HepMC vertex status (0: no special meaning).
    pub status: i32,
    /// HepMC3 ids of the particles entering the vertex, ascending.
    pub incoming: Vec<i32>,
}

/// A generated event. Vertices sit at the origin (HepMC3 writes no position for them).
#[derive(Payload, Debug, Clone, PartialEq)]
pub struct GenEvent {
    /// The event number, unique in the run.
    pub number: u64,
    /// Particles in HepMC3 order: every particle after its production vertex's incoming ones.
    pub particles: Vec<Particle>,
    /// Vertices in HepMC3 order.
    pub vertices: Vec<Vertex>,
    /// The event weight (1: unweighted events).
    pub weight: f64,
}

impl GenEvent {
    /// The four-momentum entering the event (beam particles) minus the one leaving it (final
    /// state), component by component, with the scale to compare it against (the largest
    /// absolute value summed).
    pub fn momentum_imbalance(&self) -> ([f64; 4], f64) {
        let mut balance = [0.0; 4];
        let mut scale: f64 = 0.0;
        for particle in &self.particles {
            let sign = match particle.status {
                4 => 1.0,
                1 => -1.0,
                _ => continue,
            };
            for (sum, component) in balance.iter_mut().zip(particle.momentum) {
                *sum += sign * component;
                scale = scale.max(component.abs());
            }
        }
        (balance, scale)
    }
}
