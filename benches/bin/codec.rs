//! tandem's codec against bincode and (feature `peers`) bitcode, rkyv with validation and
//! postcard, on the same data: a plain-data `Vec` of 1M 40-byte structs and a nested event
//! of 100k particles. Each encodes into a buffer it reuses; each decodes into a fresh value
//! (dropped inside the timing, as is the reference copy's). `memcpy` of the encoded bytes is
//! the floor: reused into reused for encoding, fresh into fresh for decoding.

use std::hint::black_box;
use std::time::Instant;

use tandem::{codec::encode_into, decode_from, Payload};

use crate::data::{gen_event, particles, GenEvent, Particle};

use crate::report::{self, Record};
use crate::reuse;

/// One timed operation: a format, what it does, and the closure doing it once.
struct Op<'a> {
    format: &'static str,
    op: &'static str,
    run: Box<dyn FnMut() + 'a>,
}

const TANDEM: &str = "tandem";
const MEMCPY: &str = "memcpy of tandem's encoding";
const ENCODE: &str = "encode into a reused buffer";
const DECODE: &str = "decode into a fresh value";
const DECODE_REUSED: &str = "decode into a reused value";
const COPY_REUSED: &str = "copy reused into reused";
const COPY_FRESH: &str = "copy into a fresh Vec";

/// The operations of every format on `value` (of type `$ty`).
macro_rules! ops {
    ($value:expr, $ty:ty) => {{
        let value: &$ty = $value;
        let mut ops: Vec<Op<'_>> = Vec::new();

        let tandem_bytes = tandem::encode_to_vec(value);
        assert_eq!(
            &decode_from::<$ty>(&tandem_bytes).expect("tandem decodes"),
            value
        );
        let mut tandem_out = vec![0u8; tandem_bytes.len()];
        ops.push(Op {
            format: TANDEM,
            op: ENCODE,
            run: Box::new(move || {
                let len = black_box(value).encoded_len(0);
                encode_into(black_box(value), &mut tandem_out[..len]);
            }),
        });
        let bytes = tandem_bytes.clone();
        ops.push(Op {
            format: TANDEM,
            op: DECODE,
            run: Box::new(move || {
                black_box(decode_from::<$ty>(black_box(&bytes)).expect("decode"));
            }),
        });
        let bytes = tandem_bytes.clone();
        let mut reused: $ty = decode_from(&bytes).expect("decode");
        ops.push(Op {
            format: TANDEM,
            op: DECODE_REUSED,
            run: Box::new(move || {
                reuse::decode_reused(black_box(&bytes), &mut reused);
                black_box(&mut reused);
            }),
        });
        let bytes = tandem_bytes.clone();
        let mut copy = vec![0u8; bytes.len()];
        ops.push(Op {
            format: MEMCPY,
            op: COPY_REUSED,
            run: Box::new(move || {
                copy.copy_from_slice(black_box(&bytes));
                black_box(&mut copy);
            }),
        });
        let bytes = tandem_bytes;
        ops.push(Op {
            format: MEMCPY,
            op: COPY_FRESH,
            run: Box::new(move || {
                black_box(black_box(&bytes).to_vec());
            }),
        });

        let bincode_len = bincode::serialized_size(value).expect("bincode size") as usize;
        let mut bincode_out = vec![0u8; bincode_len];
        bincode::serialize_into(&mut bincode_out[..], value).expect("bincode encodes");
        let bincode_bytes = bincode_out.clone();
        assert_eq!(
            &bincode::deserialize::<$ty>(&bincode_bytes).expect("bincode"),
            value
        );
        ops.push(Op {
            format: "bincode 1",
            op: ENCODE,
            run: Box::new(move || {
                let len = bincode::serialized_size(black_box(value)).expect("size") as usize;
                bincode::serialize_into(&mut bincode_out[..len], black_box(value)).expect("encode");
            }),
        });
        ops.push(Op {
            format: "bincode 1",
            op: DECODE,
            run: Box::new(move || {
                black_box(bincode::deserialize::<$ty>(black_box(&bincode_bytes)).expect("decode"));
            }),
        });

        #[cfg(feature = "peers")]
        {
            let mut buffer = bitcode::Buffer::new();
            let bitcode_bytes = bitcode::encode(value);
            assert_eq!(
                &bitcode::decode::<$ty>(&bitcode_bytes).expect("bitcode"),
                value
            );
            ops.push(Op {
                format: "bitcode 0.6",
                op: ENCODE,
                run: Box::new(move || {
                    black_box(buffer.encode(black_box(value)));
                }),
            });
            ops.push(Op {
                format: "bitcode 0.6",
                op: DECODE,
                run: Box::new(move || {
                    black_box(bitcode::decode::<$ty>(black_box(&bitcode_bytes)).expect("decode"));
                }),
            });

            let rkyv_bytes = rkyv::to_bytes::<rkyv::rancor::Error>(value).expect("rkyv encodes");
            assert_eq!(
                &rkyv::from_bytes::<$ty, rkyv::rancor::Error>(&rkyv_bytes).expect("rkyv"),
                value
            );
            let mut writer = rkyv::util::AlignedVec::<16>::with_capacity(rkyv_bytes.len());
            ops.push(Op {
                format: "rkyv 0.8, validated",
                op: ENCODE,
                run: Box::new(move || {
                    let mut reused = std::mem::take(&mut writer);
                    reused.clear();
                    writer = rkyv::api::high::to_bytes_in::<_, rkyv::rancor::Error>(
                        black_box(value),
                        reused,
                    )
                    .expect("encode");
                }),
            });
            ops.push(Op {
                format: "rkyv 0.8, validated",
                op: DECODE,
                run: Box::new(move || {
                    black_box(
                        rkyv::from_bytes::<$ty, rkyv::rancor::Error>(black_box(&rkyv_bytes))
                            .expect("decode"),
                    );
                }),
            });

            let postcard_bytes = postcard::to_allocvec(value).expect("postcard encodes");
            assert_eq!(
                &postcard::from_bytes::<$ty>(&postcard_bytes).expect("postcard"),
                value
            );
            let mut postcard_out = vec![0u8; postcard_bytes.len()];
            ops.push(Op {
                format: "postcard 1",
                op: ENCODE,
                run: Box::new(move || {
                    black_box(
                        postcard::to_slice(black_box(value), &mut postcard_out).expect("encode"),
                    );
                }),
            });
            ops.push(Op {
                format: "postcard 1",
                op: DECODE,
                run: Box::new(move || {
                    black_box(
                        postcard::from_bytes::<$ty>(black_box(&postcard_bytes)).expect("decode"),
                    );
                }),
            });
        }
        ops
    }};
}

/// Runs every format's operations `reps` times, interleaved, and records the medians.
pub fn run(reps: usize, quick: bool, records: &mut Vec<Record>) {
    let scale = if quick { 10 } else { 1 };
    let pod = particles(1_000_000 / scale);
    let nested = gen_event(100_000 / scale);
    let pod_name = if quick {
        "Vec of 100k plain 40-byte structs"
    } else {
        "Vec of 1M plain 40-byte structs"
    };
    let nested_name = if quick {
        "nested event, 10k particles"
    } else {
        "nested event, 100k particles"
    };
    let mut rows = Vec::new();
    for (data, mut ops) in [
        (pod_name, ops!(&pod, Vec<Particle>)),
        (nested_name, ops!(&nested, GenEvent)),
    ] {
        let mut times: Vec<Vec<u64>> = vec![Vec::new(); ops.len()];
        // One untimed pass first: page faults of the reused buffers' first touch.
        for op in &mut ops {
            (op.run)();
        }
        for _ in 0..reps {
            for (i, op) in ops.iter_mut().enumerate() {
                let start = Instant::now();
                (op.run)();
                times[i].push(start.elapsed().as_nanos() as u64);
            }
        }
        let medians: Vec<(f64, f64)> = times
            .iter_mut()
            .map(|t| {
                t.sort_unstable();
                (report::quantile(t, 0.5), report::quantile(t, 1.0))
            })
            .collect();
        let find = |format: &str, op: &str| {
            ops.iter()
                .position(|o| o.format == format && o.op == op)
                .map(|i| medians[i].0)
        };
        for (i, op) in ops.iter().enumerate() {
            let (p50, max) = medians[i];
            let tandem_op = if op.op == DECODE_REUSED {
                DECODE
            } else {
                op.op
            };
            let versus_tandem = if op.format == TANDEM || op.format == MEMCPY {
                None
            } else {
                find(TANDEM, tandem_op).map(|t| p50 / t)
            };
            rows.push(vec![
                data.to_owned(),
                op.format.to_owned(),
                op.op.to_owned(),
                report::time(p50),
                report::ratio(versus_tandem),
            ]);
            records.push(Record {
                section: "codec",
                mechanism: op.format.to_owned(),
                condition: format!("{data}: {}", op.op),
                bytes: 0,
                count: reps,
                p50_ns: p50,
                p99_ns: max,
                rate: 0.0,
                ratio: versus_tandem,
                reference: "tandem, same operation (time ratio)".to_owned(),
                extra: Vec::new(),
            });
        }
        // The targets: time over the reference's time.
        let mut target = |what: String, value: Option<f64>, reference: Option<f64>, goal: &str| {
            if let (Some(value), Some(reference)) = (value, reference) {
                records.push(Record {
                    section: "codec target",
                    mechanism: what,
                    condition: goal.to_owned(),
                    bytes: 0,
                    count: reps,
                    p50_ns: value,
                    p99_ns: f64::NAN,
                    rate: 0.0,
                    ratio: Some(value / reference),
                    reference: String::new(),
                    extra: Vec::new(),
                });
            }
        };
        let fastest = |op: &str| {
            ops.iter()
                .enumerate()
                .filter(|(_, o)| o.op == op && o.format != TANDEM && o.format != MEMCPY)
                .min_by(|a, b| medians[a.0].0.total_cmp(&medians[b.0].0))
                .map(|(i, o)| (o.format, medians[i].0))
        };
        if data == pod_name {
            target(
                format!("{data}: tandem encode / memcpy reused into reused"),
                find(TANDEM, ENCODE),
                find(MEMCPY, COPY_REUSED),
                "≤ 1.1",
            );
            target(
                format!("{data}: tandem decode fresh / memcpy into a fresh Vec"),
                find(TANDEM, DECODE),
                find(MEMCPY, COPY_FRESH),
                "≤ 1.1",
            );
            target(
                format!("{data}: tandem decode reused / memcpy reused into reused"),
                find(TANDEM, DECODE_REUSED),
                find(MEMCPY, COPY_REUSED),
                "≤ 1.1",
            );
        } else {
            if let Some((format, time)) = fastest(DECODE) {
                target(
                    format!("{data}: tandem decode / fastest peer ({format})"),
                    find(TANDEM, DECODE),
                    Some(time),
                    "≤ 1 (no slower than bitcode)",
                );
            }
            if let Some((format, time)) = fastest(ENCODE) {
                target(
                    format!("{data}: tandem encode / fastest peer ({format})"),
                    find(TANDEM, ENCODE),
                    Some(time),
                    "≤ 1",
                );
            }
        }
    }
    println!("\n## Codec: median of {reps} interleaved runs per operation\n");
    print!(
        "{}",
        report::table(
            &[
                "data",
                "format",
                "operation",
                "time (median)",
                "time / tandem's"
            ],
            &rows
        )
    );
    if !cfg!(feature = "peers") {
        println!(
            "\nbitcode, rkyv and postcard left out: build with `--features peers` to include them."
        );
    }
}
