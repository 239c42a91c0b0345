//! Encode/decode throughput of the codec against bincode 1 + serde on the same data:
//! a `Vec` of 1,000,000 plain-old-data particles, and a nested event.
//!
//! Both sides encode into a preallocated buffer: ours with `encode_into` on a buffer sized by
//! `encoded_len(0)` (as the channel layer does in shared memory), bincode with
//! `serialize_into` a slice sized by `serialized_size`.

#![allow(missing_docs)] // `criterion_group!` generates an undocumented function.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;
use tandem::{codec::encode_into, decode_from, Payload};

#[path = "data.rs"]
mod data;

use data::{gen_event, particles};
use serde::{Deserialize, Serialize};

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
