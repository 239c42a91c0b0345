//! Property tests of the codec through derived types: encode → decode is the identity,
//! `encoded_len` is exact at every offset, arbitrary bytes never make decoding panic, and
//! decoding into a reused value of any previous content equals a fresh decode.

use proptest::collection::{btree_map, hash_map, vec};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use tandem::codec::{Decoder, Encoder};
use tandem::zerocopy::{FromBytes, Immutable, IntoBytes};
use tandem::{codec::decode_from_into, decode_from, encode_to_vec, Payload};

#[derive(Payload, IntoBytes, FromBytes, Immutable, Debug, Clone, Copy, PartialEq)]
#[zerocopy(crate = "tandem::zerocopy")]
#[payload(pod)]
#[repr(C)]
struct Particle {
    pdg_id: i32,
    status: i32,
    momentum: [f64; 4],
}

#[derive(Payload, Debug, Clone, PartialEq)]
enum Vertex {
    Primary,
    Displaced(f64, f64, f64),
    Decay {
        parent: u32,
        products: Vec<u32>,
        label: Option<String>,
    },
}

#[derive(Payload, Debug, Clone, PartialEq)]
struct Header {
    run: u32,
    lumi: u32,
    event: u64,
    tag: char,
    ok: bool,
}

#[derive(Payload, Debug, Clone, PartialEq)]
#[allow(clippy::box_collection)] // exercises `Box<T>`
struct Event {
    header: Header,
    particles: Vec<Particle>,
    vertices: Vec<Vertex>,
    names: Vec<String>,
    weights: BTreeMap<String, f64>,
    counters: HashMap<u16, i64>,
    comment: Option<Box<String>>,
    seeds: [u32; 3],
}

#[derive(Payload, Debug, Clone, PartialEq)]
enum Tree {
    Leaf(i8),
    Node(Vec<Tree>),
}

fn particle() -> impl Strategy<Value = Particle> {
    (any::<i32>(), any::<i32>(), any::<[f64; 4]>()).prop_map(|(pdg_id, status, momentum)| {
        Particle {
            pdg_id,
            status,
            momentum,
        }
    })
}

fn vertex() -> impl Strategy<Value = Vertex> {
    prop_oneof![
        Just(Vertex::Primary),
        (any::<f64>(), any::<f64>(), any::<f64>()).prop_map(|(x, y, z)| Vertex::Displaced(x, y, z)),
        (
            any::<u32>(),
            vec(any::<u32>(), 0..5),
            any::<Option<String>>()
        )
            .prop_map(|(parent, products, label)| Vertex::Decay {
                parent,
                products,
                label
            }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    (
        (
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            any::<char>(),
            any::<bool>(),
        ),
        vec(particle(), 0..20),
        vec(vertex(), 0..5),
        vec(any::<String>(), 0..5),
        btree_map(any::<String>(), any::<f64>(), 0..5),
        hash_map(any::<u16>(), any::<i64>(), 0..5),
        any::<Option<String>>(),
        any::<[u32; 3]>(),
    )
        .prop_map(
            |(
                (run, lumi, event, tag, ok),
                particles,
                vertices,
                names,
                weights,
                counters,
                comment,
                seeds,
            )| Event {
                header: Header {
                    run,
                    lumi,
                    event,
                    tag,
                    ok,
                },
                particles,
                vertices,
                names,
                weights,
                counters,
                comment: comment.map(Box::new),
                seeds,
            },
        )
}

fn tree() -> impl Strategy<Value = Tree> {
    any::<i8>()
        .prop_map(Tree::Leaf)
        .prop_recursive(6, 64, 4, |inner| vec(inner, 0..4).prop_map(Tree::Node))
}

/// Encodes `value` after `offset` filler bytes and decodes it back from there.
fn roundtrip_at<T: Payload + PartialEq + std::fmt::Debug>(value: &T, offset: usize) {
    let len = value.encoded_len(offset);
    let mut bytes = vec![0xAA; offset + len];
    let mut encoder = Encoder::new(&mut bytes);
    encoder.put_bytes(&vec![0xAA; offset]);
    value.encode(&mut encoder);
    assert_eq!(
        encoder.position(),
        offset + len,
        "encoded_len must be exact"
    );
    let mut decoder = Decoder::new(&bytes);
    decoder.skip(offset, "filler").unwrap();
    assert_eq!(&T::decode(&mut decoder).unwrap(), value);
    assert_eq!(decoder.remaining(), 0);
}

/// NaN != NaN: compare floats by bits through the encoding itself.
fn same_encoding<T: Payload>(a: &T, b: &T) -> bool {
    encode_to_vec(a) == encode_to_vec(b)
}

/// Decodes `bytes` fresh and into `previous`: both succeed with the same value (compared by
/// `same`) or fail with the same error, and a failed decode leaves `previous` a valid value.
fn decode_into_agrees<T: Payload + std::fmt::Debug>(
    mut previous: T,
    bytes: &[u8],
    same: impl Fn(&T, &T) -> bool,
) -> Result<(), TestCaseError> {
    let fresh = decode_from::<T>(bytes);
    let reused = decode_from_into(bytes, &mut previous);
    match (fresh, reused) {
        (Ok(fresh), Ok(())) => prop_assert!(same(&fresh, &previous), "{fresh:?} != {previous:?}"),
        (Err(fresh), Err(reused)) => {
            prop_assert_eq!(fresh, reused);
            // Valid whatever it holds: it encodes, and its encoding decodes.
            let again = encode_to_vec(&previous);
            prop_assert!(decode_from::<T>(&again).is_ok());
        }
        (fresh, reused) => prop_assert!(false, "fresh {fresh:?}, into reused {reused:?}"),
    }
    Ok(())
}

/// Events compared by encoding (floats may be NaN), their hash maps (whose encodings may
/// come in any order) directly.
fn same_event(a: &Event, b: &Event) -> bool {
    let strip = |e: &Event| Event {
        counters: HashMap::new(),
        ..e.clone()
    };
    a.counters == b.counters && same_encoding(&strip(a), &strip(b))
}

/// `bytes` with the byte at `index` replaced by `byte`.
fn mutate(mut bytes: Vec<u8>, index: prop::sample::Index, byte: u8) -> Vec<u8> {
    if !bytes.is_empty() {
        let i = index.index(bytes.len());
        bytes[i] = byte;
    }
    bytes
}

proptest! {
    #[test]
    fn decode_into_any_previous_event_equals_a_fresh_decode(previous in event(), next in event()) {
        decode_into_agrees(previous, &encode_to_vec(&next), same_event)?;
    }

    #[test]
    fn decode_into_a_mutated_encoding_agrees_with_a_fresh_decode(
        previous in event(),
        next in event(),
        index in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let bytes = mutate(encode_to_vec(&next), index, byte);
        decode_into_agrees(previous, &bytes, same_event)?;
    }

    #[test]
    fn decode_into_reuses_enums_and_trees(
        previous in tree(),
        next in tree(),
        old_vertices in vec(vertex(), 0..6),
        new_vertices in vec(vertex(), 0..6),
        index in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        decode_into_agrees(previous.clone(), &encode_to_vec(&next), |a, b| a == b)?;
        let bytes = mutate(encode_to_vec(&next), index, byte);
        decode_into_agrees(previous, &bytes, |a, b| a == b)?;
        let bytes = encode_to_vec(&new_vertices);
        decode_into_agrees(old_vertices.clone(), &bytes, same_encoding)?;
        decode_into_agrees(old_vertices, &mutate(bytes, index, byte), same_encoding)?;
    }

    #[test]
    fn decode_into_standard_containers(
        old in (any::<String>(), any::<Option<Box<char>>>(), vec(particle(), 0..8), any::<[u16; 5]>()),
        new in (any::<String>(), any::<Option<Box<char>>>(), vec(particle(), 0..8), any::<[u16; 5]>()),
        old_sets in (any::<HashSet<u32>>(), btree_map(any::<u8>(), vec(any::<u8>(), 0..4), 0..4), any::<Option<Vec<i64>>>()),
        new_sets in (any::<HashSet<u32>>(), btree_map(any::<u8>(), vec(any::<u8>(), 0..4), 0..4), any::<Option<Vec<i64>>>()),
        index in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let bytes = encode_to_vec(&new);
        decode_into_agrees(old.clone(), &bytes, same_encoding)?;
        decode_into_agrees(old, &mutate(bytes, index, byte), same_encoding)?;
        let bytes = encode_to_vec(&new_sets);
        decode_into_agrees(old_sets.clone(), &bytes, |a, b| a == b)?;
        decode_into_agrees(old_sets, &mutate(bytes, index, byte), |a, b| a == b)?;
    }

    #[test]
    fn decode_into_arbitrary_bytes_agrees(previous in event(), bytes in vec(any::<u8>(), 0..512)) {
        decode_into_agrees(previous, &bytes, same_event)?;
        decode_into_agrees(Tree::Leaf(0), &bytes, |a, b| a == b)?;
        let headers: [Header; 2] = std::array::from_fn(|i| Header { run: 1, lumi: 2, event: i as u64, tag: 'x', ok: true });
        decode_into_agrees(headers, &bytes, same_encoding)?;
    }

    #[test]
    fn event_roundtrips_at_every_offset(event in event(), offset in 0usize..17) {
        let bytes = encode_to_vec(&event);
        prop_assert_eq!(bytes.len(), event.encoded_len(0));
        let back: Event = decode_from(&bytes).unwrap();
        // HashMap order may differ between encodings: compare the maps directly, the rest by
        // encoding (floats may be NaN).
        prop_assert_eq!(&back.counters, &event.counters);
        let strip = |e: &Event| Event { counters: HashMap::new(), ..e.clone() };
        prop_assert!(same_encoding(&strip(&back), &strip(&event)));
        if event.particles.iter().all(|p| p.momentum.iter().all(|m| !m.is_nan()))
            && event.weights.values().all(|w| !w.is_nan())
            && event.vertices.iter().all(|v| !matches!(v, Vertex::Displaced(x, y, z) if x.is_nan() || y.is_nan() || z.is_nan()))
        {
            roundtrip_at(&event, offset);
        }
    }

    #[test]
    fn pod_vec_roundtrips_at_every_offset(particles in vec(particle().prop_filter("no NaN", |p| p.momentum.iter().all(|m| !m.is_nan())), 0..50), offset in 0usize..33) {
        roundtrip_at(&particles, offset);
        let len = particles.encoded_len(offset);
        let padding = (8 - (offset + 8) % 8) % 8;
        prop_assert_eq!(len, 8 + padding + particles.len() * 40);
    }

    #[test]
    fn primitive_vecs_roundtrip(a in vec(any::<u16>(), 0..40), b in vec(any::<i128>(), 0..10), c in vec(any::<bool>(), 0..40), offset in 0usize..17) {
        roundtrip_at(&(a, b, c), offset);
    }

    #[test]
    fn recursive_tree_roundtrips(tree in tree()) {
        let bytes = encode_to_vec(&tree);
        prop_assert_eq!(decode_from::<Tree>(&bytes).unwrap(), tree);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        let _ = decode_from::<Event>(&bytes);
        let _ = decode_from::<Tree>(&bytes);
        let _ = decode_from::<Vec<Vertex>>(&bytes);
        let _ = decode_from::<(String, Option<char>, Vec<Particle>)>(&bytes);
        let _ = decode_from::<BTreeMap<u8, Vec<()>>>(&bytes);
        let _ = decode_from::<[Header; 2]>(&bytes);
    }

    #[test]
    fn mutated_encodings_never_panic(event in event(), index in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = encode_to_vec(&event);
        if !bytes.is_empty() {
            let i = index.index(bytes.len());
            bytes[i] = byte;
        }
        if let Ok(decoded) = decode_from::<Event>(&bytes) {
            // Whatever decodes must re-encode to a valid encoding of the same length.
            prop_assert_eq!(encode_to_vec(&decoded).len(), bytes.len());
        }
    }
}

#[test]
fn deep_recursion_is_an_error_not_a_stack_overflow() {
    // 100,000 nested `Node` tags, each with length 1.
    let mut bytes = Vec::new();
    for _ in 0..100_000 {
        bytes.extend(1u32.to_le_bytes());
        bytes.extend(1u64.to_le_bytes());
    }
    let error = decode_from::<Tree>(&bytes).unwrap_err();
    assert!(
        matches!(
            error.root_cause(),
            tandem::DecodeError::TooDeep { limit: 256, .. }
        ),
        "{error}"
    );
}
