//! The job's digest: a sum modulo 2^128 of one 128-bit hash per kept event. A sum does not
//! depend on the order events arrive in, and the digests of jobs that split a run add up to
//! the digest of the whole run.
//!
//! Each event is hashed with XXH3-128 (`xxhash-rust`; the algorithm is specified and its
//! output fixed across releases and platforms, unlike std's `DefaultHasher`) over a canonical
//! encoding: little-endian fields in declaration order, floats by their bit patterns, each
//! list preceded by its length.

use std::fmt;
use std::ops::{Add, AddAssign};
use std::str::FromStr;

use crate::event::GenEvent;

/// An additive digest of a set of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Digest(pub u128);

impl Digest {
    /// The digest of one event.
    pub fn of_event(event: &GenEvent) -> Digest {
        let mut bytes = Vec::with_capacity(16 + event.particles.len() * 52 + 64);
        bytes.extend_from_slice(&event.number.to_le_bytes());
        bytes.extend_from_slice(&event.weight.to_bits().to_le_bytes());
        bytes.extend_from_slice(&(event.particles.len() as u64).to_le_bytes());
        for particle in &event.particles {
            bytes.extend_from_slice(&particle.pdg_id.to_le_bytes());
            bytes.extend_from_slice(&particle.status.to_le_bytes());
            bytes.extend_from_slice(&particle.production_vertex.to_le_bytes());
            for value in particle.momentum.iter().chain([&particle.mass]) {
                bytes.extend_from_slice(&value.to_bits().to_le_bytes());
            }
        }
        bytes.extend_from_slice(&(event.vertices.len() as u64).to_le_bytes());
        for vertex in &event.vertices {
            bytes.extend_from_slice(&vertex.status.to_le_bytes());
            bytes.extend_from_slice(&(vertex.incoming.len() as u64).to_le_bytes());
            for id in &vertex.incoming {
                bytes.extend_from_slice(&id.to_le_bytes());
            }
        }
        Digest(xxhash_rust::xxh3::xxh3_128(&bytes))
    }
}

impl Add for Digest {
    type Output = Digest;

    fn add(self, other: Digest) -> Digest {
        Digest(self.0.wrapping_add(other.0))
    }
}

impl AddAssign for Digest {
    fn add_assign(&mut self, other: Digest) {
        *self = *self + other;
    }
}

impl fmt::Display for Digest {
    /// 32 lowercase hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl FromStr for Digest {
    type Err = String;

    fn from_str(text: &str) -> Result<Digest, String> {
        if text.len() != 32 {
            return Err(format!(
                "digest `{text}` has {} characters: expected 32 hex digits",
                text.len()
            ));
        }
        u128::from_str_radix(text, 16)
            .map(Digest)
            .map_err(|_| format!("digest `{text}` is not hexadecimal: expected 32 hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics::{Process, RngState};

    #[test]
    fn sums_are_order_independent_and_round_trip() {
        let process = Process::new();
        let digests: Vec<Digest> = (1..=10)
            .map(|n| {
                Digest::of_event(&process.generate(n, &mut RngState::for_event(3, 1, 1, n).rng()))
            })
            .collect();
        let forward = digests.iter().fold(Digest::default(), |sum, d| sum + *d);
        let backward = digests
            .iter()
            .rev()
            .fold(Digest::default(), |sum, d| sum + *d);
        assert_eq!(forward, backward);
        assert_ne!(digests[0], digests[1]);
        assert_eq!(forward.to_string().parse::<Digest>(), Ok(forward));
        assert!("xyz".parse::<Digest>().is_err());
    }
}
