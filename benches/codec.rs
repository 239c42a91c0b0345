//! Encode/decode throughput of the codec against bincode 1 + serde on the same data:
//! a `Vec` of 1,000,000 plain-old-data particles, and a nested event.
//!
//! Both sides encode into a preallocated buffer: ours with `encode_into` on a buffer sized by
//! `encoded_len(0)` (as the channel layer does in shared memory), bincode with
//! `serialize_into` a slice sized by `serialized_size`.

#![allow(missing_docs)] // `criterion_group!` generates an undocumented function.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use tandem::zerocopy::{FromBytes, Immutable, IntoBytes};
use tandem::{decode_from, encode_into, Payload};

#[derive(
    Payload, IntoBytes, FromBytes, Immutable, Serialize, Deserialize, Clone, Copy, PartialEq, Debug,
)]
#[zerocopy(crate = "tandem::zerocopy")]
#[payload(pod)]
#[repr(C)]
struct Particle {
    pdg_id: i32,
    status: i32,
    px: f64,
    py: f64,
    pz: f64,
    e: f64,
}

#[derive(Payload, Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Track {
    particle: Particle,
    name: String,
    mother: Option<u32>,
    daughters: Vec<u32>,
}

#[derive(Payload, Serialize, Deserialize, Clone, PartialEq, Debug)]
struct GenEvent {
    run: u32,
    event: u64,
    weights: BTreeMap<String, f64>,
    tracks: Vec<Track>,
    comment: Option<String>,
}

fn particles(n: usize) -> Vec<Particle> {
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

fn gen_event(n: usize) -> GenEvent {
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

fn compare<T>(c: &mut Criterion, name: &str, value: &T)
where
    T: Payload + Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let ours_len = value.encoded_len(0);
    let mut ours = vec![0u8; ours_len];
    assert_eq!(encode_into(value, &mut ours), ours_len);
    assert_eq!(&decode_from::<T>(&ours).unwrap(), value);
    let bincode_len = bincode::serialized_size(value).unwrap() as usize;
    let mut theirs = vec![0u8; bincode_len];
    bincode::serialize_into(&mut theirs[..], value).unwrap();
    assert_eq!(&bincode::deserialize::<T>(&theirs).unwrap(), value);

    let mut group = c.benchmark_group(name);
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.sample_size(10);

    group.throughput(Throughput::Bytes(ours_len as u64));
    group.bench_function(BenchmarkId::new("encode", "tandem"), |b| {
        b.iter(|| {
            let len = black_box(value).encoded_len(0);
            encode_into(black_box(value), &mut ours[..len])
        })
    });
    group.bench_function(BenchmarkId::new("decode", "tandem"), |b| {
        b.iter(|| decode_from::<T>(black_box(&ours)).unwrap())
    });

    group.throughput(Throughput::Bytes(bincode_len as u64));
    group.bench_function(BenchmarkId::new("encode", "bincode"), |b| {
        b.iter(|| {
            let len = bincode::serialized_size(black_box(value)).unwrap() as usize;
            bincode::serialize_into(&mut theirs[..len], black_box(value)).unwrap()
        })
    });
    group.bench_function(BenchmarkId::new("decode", "bincode"), |b| {
        b.iter(|| bincode::deserialize::<T>(black_box(&theirs)).unwrap())
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    compare(c, "pod_vec_1m", &particles(1_000_000));
    compare(c, "nested_event_100k", &gen_event(100_000));
}

criterion_group!(codec, benches);
criterion_main!(codec);
