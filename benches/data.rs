//! The data both codec benchmarks measure (the criterion bench `codec` and the comparison
//! program): a plain-old-data particle, and a nested event of tracks with strings, options,
//! vectors and a map.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tandem::zerocopy::{FromBytes, Immutable, IntoBytes};
use tandem::Payload;

#[derive(
    Payload, IntoBytes, FromBytes, Immutable, Serialize, Deserialize, Clone, Copy, PartialEq, Debug,
)]
#[cfg_attr(
    feature = "peers",
    derive(
        bitcode::Encode,
        bitcode::Decode,
        rkyv::Archive,
        rkyv::Serialize,
        rkyv::Deserialize
    )
)]
#[zerocopy(crate = "tandem::zerocopy")]
#[payload(pod)]
#[repr(C)]
pub struct Particle {
    pdg_id: i32,
    status: i32,
    px: f64,
    py: f64,
    pz: f64,
    e: f64,
}

#[derive(Payload, Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(
    feature = "peers",
    derive(
        bitcode::Encode,
        bitcode::Decode,
        rkyv::Archive,
        rkyv::Serialize,
        rkyv::Deserialize
    )
)]
pub struct Track {
    particle: Particle,
    name: String,
    mother: Option<u32>,
    daughters: Vec<u32>,
}

#[derive(Payload, Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(
    feature = "peers",
    derive(
        bitcode::Encode,
        bitcode::Decode,
        rkyv::Archive,
        rkyv::Serialize,
        rkyv::Deserialize
    )
)]
pub struct GenEvent {
    run: u32,
    event: u64,
    weights: BTreeMap<String, f64>,
    tracks: Vec<Track>,
    comment: Option<String>,
}

/// `n` plain-old-data particles.
pub fn particles(n: usize) -> Vec<Particle> {
    (0..n)
        .map(|i| Particle {
            pdg_id: (i % 23) as i32 - 11,
            status: (i % 3) as i32,
            px: i as f64 * 0.5,
            py: -(i as f64),
            pz: 1.0 / (i as f64 + 1.0),
            e: i as f64 * 2.0,
        })
        .collect()
}

/// A nested event of `n` tracks.
pub fn gen_event(n: usize) -> GenEvent {
    GenEvent {
        run: 1,
        event: 42,
        weights: (0..10).map(|i| (format!("weight_{i}"), i as f64)).collect(),
        tracks: particles(n)
            .into_iter()
            .enumerate()
            .map(|(i, particle)| Track {
                particle,
                name: format!("track{i}"),
                mother: (i % 2 == 0).then_some(i as u32 / 2),
                daughters: vec![i as u32 + 1, i as u32 + 2],
            })
            .collect(),
        comment: Some("generated".into()),
    }
}
