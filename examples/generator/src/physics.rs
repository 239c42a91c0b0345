//! e+e- → Z/γ* → μ+μ- at lowest order: the cross section, the angular distribution, the
//! muon filter and its analytic acceptance. Everything here is pure: an event is a function
//! of its random-number state only, so the same code gives the same event in-process and in
//! a worker, before and after a crash.
//!
//! # Cross section
//! With θ the angle between the outgoing μ- and the incoming e- (PDG review "Cross-section
//! formulae for specific processes", e+e- → f f̄ with N_c = 1):
//!
//! ```text
//! dσ/dcosθ = (π α² / 2s) [ A0 (1 + cos²θ) + 2 A1 cosθ ]
//! A0 = Q_f² − 2 Q_f v_e v_f χ1 + (v_e² + a_e²)(v_f² + a_f²) χ2
//! A1 = −2 Q_f a_e a_f χ1 + 4 v_e a_e v_f a_f χ2
//! χ1 = κ s (s − M_Z²) / D,  χ2 = κ² s² / D,  D = (s − M_Z²)² + Γ_Z² M_Z²
//! κ  = √2 G_F M_Z² / (4π α)
//! v_f = T3_f − 2 Q_f sin²θ_W,  a_f = T3_f      (leptons: T3 = −1/2, Q = −1)
//! ```
//!
//! so that σ = ∫ dσ = (4π α² / 3s) A0 (the cos θ term integrates to zero) and the
//! forward-backward asymmetry is A_FB = 3 A1 / (4 A0). The terms are the photon, the Z/γ
//! interference (χ1, zero on the pole) and the Z Breit–Wigner with a fixed width (χ2). The
//! constants are the PDG 2024 values: M_Z = 91.1876 GeV, Γ_Z = 2.4955 GeV, the effective
//! leptonic sin²θ_W = 0.23155, G_F = 1.1663788e-5 GeV⁻², α(M_Z²) = 1/128.952 and
//! (ħc)² = 0.3893793721 GeV² mb to convert GeV⁻² into pb. This is the improved Born
//! approximation: no initial-state radiation, which would lower the peak by about a quarter.
//!
//! # Acceptance
//! The beams collide head on in the lab frame, which is the centre-of-mass frame, so the two
//! muons are back to back, each with energy √s/2 and momentum p = √(s/4 − m_μ²), at polar
//! angles θ and π − θ. Both have pT = p sinθ and |η| = |atanh cosθ|. The cuts pT > pT_min
//! and |η| < η_max on both muons are therefore one condition on c = |cosθ|:
//!
//! ```text
//! c < c_max = min( √(1 − (pT_min/p)²), tanh η_max )
//! ```
//!
//! The cut is symmetric in cosθ, so the odd term 2 A1 cosθ drops out of both integrals and
//!
//! ```text
//! acceptance = ∫_{−c_max}^{c_max} (1 + x²) dx / ∫_{−1}^{1} (1 + x²) dx
//!            = (2 c_max + 2 c_max³/3) / (8/3) = (3 c_max + c_max³) / 4
//! ```
//!
//! With pT_min = 20 GeV and η_max = 2.4 the pT cut is the tighter one (c_max ≈ 0.8987 against
//! tanh 2.4 ≈ 0.9837) and the acceptance is about 0.855.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tandem::Payload;

use crate::event::{GenEvent, Particle, Vertex};

/// Centre-of-mass energy √s in GeV: the Z pole.
pub const SQRT_S: f64 = 91.1876;
/// Z mass in GeV (PDG 2024).
pub const Z_MASS: f64 = 91.1876;
/// Z total width in GeV (PDG 2024).
pub const Z_WIDTH: f64 = 2.4955;
/// Effective leptonic weak mixing angle sin²θ_W (PDG 2024).
pub const SIN2_THETA_W: f64 = 0.23155;
/// Fermi constant in GeV⁻² (PDG 2024).
pub const FERMI_CONSTANT: f64 = 1.1663788e-5;
/// Electromagnetic coupling at the Z mass, α(M_Z²) (on-shell, PDG 2024).
pub const ALPHA_MZ: f64 = 1.0 / 128.952;
/// (ħc)² in GeV² pb: converts a cross section in GeV⁻² into pb.
pub const HBARC2_GEV2_PB: f64 = 0.3893793721e9;
/// Electron mass in GeV (PDG 2024).
pub const ELECTRON_MASS: f64 = 0.51099895e-3;
/// Muon mass in GeV (PDG 2024).
pub const MUON_MASS: f64 = 0.1056583755;
/// The filter's minimum muon transverse momentum in GeV.
pub const PT_MIN: f64 = 20.0;
/// The filter's maximum muon |pseudorapidity|.
pub const ETA_MAX: f64 = 2.4;

/// The random-number state the controller owns and lends to a worker for one event: a
/// ChaCha8 key, stream and word position (`rand_chacha`'s counter-based generator, so a
/// state is three numbers and no hidden history).
#[derive(Payload, Debug, Clone, Copy, PartialEq, Eq)]
pub struct RngState {
    /// The 256-bit key.
    pub key: [u8; 32],
    /// The stream (a 64-bit nonce).
    pub stream: u64,
    /// The position in the stream, in 32-bit words.
    pub word_pos: u128,
}

impl RngState {
    /// The state of event `event` of luminosity section `lumi` of run `run` in a job seeded
    /// with `seed`: the key holds (seed, run, lumi), the stream is the event number and the
    /// position is zero. Distinct events get distinct (key, stream) pairs, which ChaCha makes
    /// independent generators; nothing depends on which process or thread draws them.
    pub fn for_event(seed: u64, run: u32, lumi: u32, event: u64) -> RngState {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..12].copy_from_slice(&run.to_le_bytes());
        key[12..16].copy_from_slice(&lumi.to_le_bytes());
        // A constant tag in the rest of the key, so that these keys are not reused by any
        // other use of the seed.
        key[16..].copy_from_slice(b"tandem-gen Z->mm");
        RngState {
            key,
            stream: event,
            word_pos: 0,
        }
    }

    /// The generator positioned at this state.
    pub fn rng(&self) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::from_seed(self.key);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.word_pos);
        rng
    }

    /// The state a generator has reached.
    pub fn of(rng: &ChaCha8Rng) -> RngState {
        RngState {
            key: rng.get_seed(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos(),
        }
    }
}

/// The process with its couplings evaluated at √s: what generation and the summary need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Process {
    /// The coefficient A0 of (1 + cos²θ).
    pub a0: f64,
    /// The coefficient A1 of 2 cosθ.
    pub a1: f64,
    /// σ(e+e- → Z/γ* → μ+μ-) in pb.
    pub cross_section_pb: f64,
}

impl Process {
    /// Evaluates the formulae of the module documentation at [`SQRT_S`].
    pub fn new() -> Process {
        let s = SQRT_S * SQRT_S;
        let mz2 = Z_MASS * Z_MASS;
        let kappa = std::f64::consts::SQRT_2 * FERMI_CONSTANT * mz2
            / (4.0 * std::f64::consts::PI * ALPHA_MZ);
        let denominator = (s - mz2).powi(2) + Z_WIDTH * Z_WIDTH * mz2;
        let chi1 = kappa * s * (s - mz2) / denominator;
        let chi2 = kappa * kappa * s * s / denominator;
        let (charge, t3) = (-1.0, -0.5);
        let vector = t3 - 2.0 * charge * SIN2_THETA_W;
        let axial = t3;
        // Same couplings for the electron and the muon (lepton universality).
        let a0 = charge * charge - 2.0 * charge * vector * vector * chi1
            + (vector * vector + axial * axial).powi(2) * chi2;
        let a1 = -2.0 * charge * axial * axial * chi1 + 4.0 * (vector * axial).powi(2) * chi2;
        let sigma_gev = 4.0 * std::f64::consts::PI * ALPHA_MZ * ALPHA_MZ / (3.0 * s) * a0;
        Process {
            a0,
            a1,
            cross_section_pb: sigma_gev * HBARC2_GEV2_PB,
        }
    }

    /// The forward-backward asymmetry of the μ- relative to the e- direction, 3 A1 / (4 A0).
    pub fn forward_backward_asymmetry(&self) -> f64 {
        3.0 * self.a1 / (4.0 * self.a0)
    }

    /// Generates one event from `rng`: the beams, the Z at rest, and the muon pair with
    /// cosθ drawn from (1 + cos²θ) + 2 (A1/A0) cosθ and φ uniform.
    pub fn generate(&self, number: u64, rng: &mut ChaCha8Rng) -> GenEvent {
        let slope = 2.0 * self.a1 / self.a0;
        // Accept-reject against the density's maximum on [-1, 1], 2 + |slope| (|slope| < 2
        // keeps the density positive).
        let bound = 2.0 + slope.abs();
        let cos_theta = loop {
            let x = 2.0 * uniform(rng) - 1.0;
            if uniform(rng) * bound < 1.0 + x * x + slope * x {
                break x;
            }
        };
        let phi = 2.0 * std::f64::consts::PI * uniform(rng);
        let sin_theta = (1.0 - cos_theta * cos_theta).sqrt();

        let beam_energy = SQRT_S / 2.0;
        let beam_momentum = (beam_energy * beam_energy - ELECTRON_MASS * ELECTRON_MASS).sqrt();
        let muon_energy = SQRT_S / 2.0;
        let p = muon_momentum();
        let muon = [
            p * sin_theta * phi.cos(),
            p * sin_theta * phi.sin(),
            p * cos_theta,
            muon_energy,
        ];
        // Exact negation and halves of √s: the sums balance to the last bit.
        let antimuon = [-muon[0], -muon[1], -muon[2], muon_energy];
        let particle = |pdg_id, status, production_vertex, momentum, mass| Particle {
            pdg_id,
            status,
            production_vertex,
            momentum,
            mass,
        };
        GenEvent {
            number,
            particles: vec![
                particle(
                    11,
                    4,
                    0,
                    [0.0, 0.0, beam_momentum, beam_energy],
                    ELECTRON_MASS,
                ),
                particle(
                    -11,
                    4,
                    0,
                    [0.0, 0.0, -beam_momentum, beam_energy],
                    ELECTRON_MASS,
                ),
                particle(23, 2, -1, [0.0, 0.0, 0.0, SQRT_S], SQRT_S),
                particle(13, 1, -2, muon, MUON_MASS),
                particle(-13, 1, -2, antimuon, MUON_MASS),
            ],
            vertices: vec![
                Vertex {
                    status: 0,
                    incoming: vec![1, 2],
                },
                Vertex {
                    status: 0,
                    incoming: vec![3],
                },
            ],
            weight: 1.0,
        }
    }
}

impl Default for Process {
    fn default() -> Self {
        Process::new()
    }
}

/// A uniform number in [0, 1) from the top 53 bits of one 64-bit draw.
fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Each muon's momentum in GeV: √(s/4 − m_μ²).
pub fn muon_momentum() -> f64 {
    let energy = SQRT_S / 2.0;
    (energy * energy - MUON_MASS * MUON_MASS).sqrt()
}

/// The largest |cosθ| the filter accepts (see the module documentation).
pub fn cos_theta_max() -> f64 {
    let ratio = PT_MIN / muon_momentum();
    let from_pt = if ratio >= 1.0 {
        0.0
    } else {
        (1.0 - ratio * ratio).sqrt()
    };
    from_pt.min(ETA_MAX.tanh())
}

/// The analytic acceptance of the filter, (3 c + c³) / 4 with c = [`cos_theta_max`].
pub fn analytic_acceptance() -> f64 {
    let c = cos_theta_max();
    (3.0 * c + c * c * c) / 4.0
}

/// The filter: both muons with pT > [`PT_MIN`] and |η| < [`ETA_MAX`].
pub fn passes_filter(event: &GenEvent) -> bool {
    event
        .particles
        .iter()
        .filter(|particle| particle.status == 1 && particle.pdg_id.abs() == 13)
        .all(|muon| {
            let [px, py, pz, _] = muon.momentum;
            let pt = px.hypot(py);
            let p = pt.hypot(pz);
            pt > PT_MIN && (pz / p).atanh().abs() < ETA_MAX
        })
}

/// The cosθ of the μ- relative to the e- beam (+z), for the forward-backward count.
pub fn muon_cos_theta(event: &GenEvent) -> Option<f64> {
    event
        .particles
        .iter()
        .find(|particle| particle.status == 1 && particle.pdg_id == 13)
        .map(|muon| {
            let [px, py, pz, _] = muon.momentum;
            pz / (px * px + py * py + pz * pz).sqrt()
        })
}

/// Generates event `number` of (`seed`, `run`, `lumi`) in this process, with the filter
/// decision: what a worker does for one event, for the in-process comparison.
pub fn generate_in_process(
    process: &Process,
    seed: u64,
    run: u32,
    lumi: u32,
    number: u64,
) -> (GenEvent, bool) {
    let mut rng = RngState::for_event(seed, run, lumi, number).rng();
    let event = process.generate(number, &mut rng);
    let keep = passes_filter(&event);
    (event, keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_section_is_the_z_peak() {
        // On the pole the Z term dominates: 12π Γ_ee Γ_μμ / (M_Z² Γ_Z²) ≈ 2.0 nb at this
        // order, with the photon adding under 1%.
        let process = Process::new();
        assert!(
            (1900.0..2100.0).contains(&process.cross_section_pb),
            "{}",
            process.cross_section_pb
        );
        // A_FB on the pole is 3/4 A_e A_μ ≈ 0.017 for sin²θ_W ≈ 0.2315.
        let afb = process.forward_backward_asymmetry();
        assert!((0.014..0.020).contains(&afb), "{afb}");
    }

    #[test]
    fn acceptance_uses_the_pt_cut() {
        let c = cos_theta_max();
        assert!((c - 0.8987).abs() < 1e-3, "{c}");
        let acceptance = analytic_acceptance();
        assert!((acceptance - 0.8554).abs() < 1e-3, "{acceptance}");
    }

    #[test]
    fn events_are_pure_functions_of_their_state() {
        let process = Process::new();
        let state = RngState::for_event(7, 1, 3, 2001);
        let first = process.generate(2001, &mut state.rng());
        let second = process.generate(2001, &mut state.rng());
        assert_eq!(first, second);
        let other = process.generate(2002, &mut RngState::for_event(7, 1, 3, 2002).rng());
        assert_ne!(first.particles, other.particles);
    }

    #[test]
    fn momentum_is_conserved_exactly() {
        let process = Process::new();
        for number in 1..200 {
            let event = process.generate(number, &mut RngState::for_event(1, 1, 1, number).rng());
            let (imbalance, scale) = event.momentum_imbalance();
            for component in imbalance {
                assert!(component.abs() <= 1e-12 * scale, "{imbalance:?}");
            }
        }
    }

    #[test]
    fn state_round_trips() {
        let state = RngState::for_event(5, 2, 9, 77);
        let mut rng = state.rng();
        rng.next_u64();
        let advanced = RngState::of(&rng);
        assert_eq!(advanced.word_pos, 2);
        assert_eq!(advanced.rng().next_u64(), rng.next_u64());
    }
}
