//! Edge cases of the standard impls: invalid values, truncation, hostile lengths, limits.

use super::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};

fn roundtrip<T: Payload + PartialEq + std::fmt::Debug>(value: T) {
    let bytes = encode_to_vec(&value);
    assert_eq!(bytes.len(), value.encoded_len(0));
    assert_eq!(decode_from::<T>(&bytes).unwrap(), value);
}

#[test]
fn primitives_are_little_endian_without_padding() {
    assert_eq!(
        encode_to_vec(&(1u8, 0x0203u16, 0x0405_0607u32)),
        [1, 3, 2, 7, 6, 5, 4]
    );
    assert_eq!(encode_to_vec(&-2i64), (-2i64).to_le_bytes());
    assert_eq!(encode_to_vec(&7usize), 7u64.to_le_bytes());
    assert_eq!(encode_to_vec(&'A'), 65u32.to_le_bytes());
    assert_eq!(encode_to_vec(&Some(true)), [1, 1]);
    assert_eq!(
        encode_to_vec(&String::from("hi")),
        [2, 0, 0, 0, 0, 0, 0, 0, b'h', b'i']
    );
    roundtrip(u128::MAX);
    roundtrip(i128::MIN);
    roundtrip(f64::NEG_INFINITY);
    roundtrip(isize::MIN);
    roundtrip(char::MAX);
}

#[test]
fn invalid_bool() {
    let error = decode_from::<(u8, bool)>(&[0, 2]).unwrap_err();
    assert_eq!(
        error,
        DecodeError::InvalidBool {
            offset: 1,
            found: 2
        }
    );
    assert_eq!(
        error.to_string(),
        "invalid bool at byte 1: expected 0 or 1, found 2"
    );
}

#[test]
fn invalid_char() {
    let surrogate = 0xD800u32.to_le_bytes();
    assert_eq!(
        decode_from::<char>(&surrogate).unwrap_err(),
        DecodeError::InvalidChar {
            offset: 0,
            found: 0xD800
        }
    );
    let too_big = 0x11_0000u32.to_le_bytes();
    assert!(matches!(
        decode_from::<char>(&too_big),
        Err(DecodeError::InvalidChar { .. })
    ));
}

#[test]
fn invalid_utf8() {
    let mut bytes = 2u64.to_le_bytes().to_vec();
    bytes.extend([0xC3, 0x28]);
    let error = decode_from::<String>(&bytes).unwrap_err();
    assert!(
        matches!(error, DecodeError::InvalidUtf8 { offset: 8, .. }),
        "{error}"
    );
    assert!(error
        .to_string()
        .starts_with("invalid UTF-8 in string at byte 8"));
}

#[test]
fn invalid_option_tag() {
    assert_eq!(
        decode_from::<Option<u8>>(&[2, 0]).unwrap_err(),
        DecodeError::InvalidOptionTag {
            offset: 0,
            found: 2
        }
    );
}

#[test]
fn usize_and_isize_extremes_roundtrip_as_64_bits() {
    assert_eq!(encode_to_vec(&usize::MAX), [0xff; 8]);
    roundtrip(usize::MAX);
    roundtrip(isize::MAX);
}

#[test]
fn truncated_input() {
    let bytes = encode_to_vec(&(7u32, String::from("hello"), vec![1u64, 2]));
    for len in 0..bytes.len() {
        let error = decode_from::<(u32, String, Vec<u64>)>(&bytes[..len]).unwrap_err();
        assert!(
            matches!(
                error,
                DecodeError::UnexpectedEnd { .. } | DecodeError::LengthTooLarge { .. }
            ),
            "{len}: {error}"
        );
    }
    assert_eq!(
        decode_from::<u32>(&[1, 2]).unwrap_err().to_string(),
        "unexpected end of input at byte 0: u32 needs 4 bytes, 2 left"
    );
}

#[test]
fn trailing_bytes() {
    assert_eq!(
        decode_from::<u16>(&[1, 2, 3]).unwrap_err(),
        DecodeError::TrailingBytes { offset: 2, len: 3 }
    );
}

#[test]
fn huge_length_prefix_is_rejected_before_allocating() {
    let mut bytes = u64::MAX.to_le_bytes().to_vec();
    bytes.extend([0; 16]);
    let error = decode_from::<Vec<String>>(&bytes).unwrap_err();
    assert_eq!(
        error,
        DecodeError::LengthTooLarge {
            offset: 0,
            what: "alloc::string::String",
            len: u64::MAX,
            available: 16,
            max: 2,
        }
    );
    assert!(matches!(
        decode_from::<String>(&bytes),
        Err(DecodeError::LengthTooLarge { .. })
    ));
    assert!(matches!(
        decode_from::<Vec<u64>>(&bytes),
        Err(DecodeError::LengthTooLarge { max: 2, .. })
    ));
    assert!(matches!(
        decode_from::<BTreeMap<u8, u8>>(&bytes),
        Err(DecodeError::LengthTooLarge { max: 8, .. })
    ));
}

#[test]
fn zero_sized_elements_are_charged_against_the_budget() {
    roundtrip(vec![(); 1000]);
    let budget = 8 * BUDGET_PER_BYTE + BUDGET_BASE;
    let bytes = (budget as u64).to_le_bytes();
    assert_eq!(decode_from::<Vec<()>>(&bytes).unwrap().len(), budget);
    let bytes = (budget as u64 + 1).to_le_bytes();
    assert_eq!(
        decode_from::<Vec<()>>(&bytes).unwrap_err(),
        DecodeError::BudgetExceeded {
            offset: 0,
            what: "()",
            elements: budget as u64 + 1,
            left: budget,
            len: 8,
        }
    );
    let bytes = u64::MAX.to_le_bytes();
    assert!(matches!(
        decode_from::<Vec<()>>(&bytes),
        Err(DecodeError::BudgetExceeded { .. })
    ));
    assert!(decode_from::<Vec<[u32; 0]>>(&bytes).is_err());
    // The budget is shared by nested sequences: after the outer 2 and a first inner 1000,
    // the second inner sequence gets what is left, and not one element more.
    let left = 24 * BUDGET_PER_BYTE + BUDGET_BASE - 2 - 1000;
    let nested = |second: usize| {
        let mut bytes = 2u64.to_le_bytes().to_vec();
        bytes.extend(1000u64.to_le_bytes());
        bytes.extend((second as u64).to_le_bytes());
        decode_from::<Vec<Vec<()>>>(&bytes)
    };
    assert_eq!(nested(left).unwrap()[1].len(), left);
    let error = nested(left + 1).unwrap_err();
    assert!(
        matches!(
            error.root_cause(),
            DecodeError::BudgetExceeded { offset: 16, left: l, .. } if *l == left
        ),
        "{error}"
    );
}

#[test]
fn budget_counts_array_elements() {
    roundtrip([[(); 32]; 64]);
    // 65 × 64 + 65 elements of nothing, from no bytes.
    assert!(matches!(
        decode_from::<[[(); 64]; 65]>(&[]),
        Err(DecodeError::BudgetExceeded { .. })
    ));
}

#[test]
fn budget_exceeded_names_the_budget() {
    let error = decode_from::<Vec<()>>(&u64::MAX.to_le_bytes()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "decode element budget exceeded at byte 0: {} elements of () announced, but only \
             {} are left of the budget for 8 input bytes (the input is corrupt or hostile, or \
             the value holds more elements that encode to nothing than the budget allows: send \
             fewer)",
            u64::MAX,
            8 * BUDGET_PER_BYTE + BUDGET_BASE
        )
    );
}

#[test]
fn decodes_from_shared_bytes_without_borrowing() {
    let value = (
        String::from("héllo"),
        vec![1u64, 2, 3],
        Some('x'),
        [true, false],
    );
    let bytes = encode_to_vec(&value);
    let shared = crate::sys::shared_bytes::SharedBytes::from_private(&bytes);
    let back: (String, Vec<u64>, Option<char>, [bool; 2]) = decode_shared(shared).unwrap();
    drop(bytes);
    assert_eq!(back, value);
}

#[test]
fn duplicate_keys_are_rejected() {
    let mut bytes = 2u64.to_le_bytes().to_vec();
    bytes.extend([1, 10, 1, 20]);
    assert_eq!(
        decode_from::<BTreeMap<u8, u8>>(&bytes).unwrap_err(),
        DecodeError::DuplicateKey {
            offset: 10,
            type_name: "alloc::collections::btree::map::BTreeMap<u8, u8>",
        }
    );
    assert!(matches!(
        decode_from::<HashMap<u8, u8>>(&bytes),
        Err(DecodeError::DuplicateKey { offset: 10, .. })
    ));
    let mut bytes = 2u64.to_le_bytes().to_vec();
    bytes.extend([5, 5]);
    assert!(matches!(
        decode_from::<BTreeSet<u8>>(&bytes),
        Err(DecodeError::DuplicateKey { offset: 9, .. })
    ));
}

#[test]
fn maps_and_sets_roundtrip_and_share_fingerprints_by_shape() {
    let map: BTreeMap<String, Vec<u8>> = [("a".into(), vec![1]), ("b".into(), vec![])].into();
    roundtrip(map.clone());
    let hashed: HashMap<String, Vec<u8>> = map.clone().into_iter().collect();
    let bytes = encode_to_vec(&map);
    assert_eq!(
        decode_from::<HashMap<String, Vec<u8>>>(&bytes).unwrap(),
        hashed
    );
    assert_eq!(
        <BTreeMap<String, Vec<u8>>>::FINGERPRINT,
        <HashMap<String, Vec<u8>>>::FINGERPRINT
    );
    assert_ne!(
        <BTreeMap<u8, u16>>::FINGERPRINT,
        <BTreeMap<u16, u8>>::FINGERPRINT
    );
    assert_ne!(
        <Vec<(u8, u16)>>::FINGERPRINT,
        <BTreeMap<u8, u16>>::FINGERPRINT
    );
}

#[test]
fn pod_vec_is_padded_to_alignment_from_absolute_offset() {
    let value = (1u8, vec![0x0102_0304u32, 5]);
    let bytes = encode_to_vec(&value);
    // u8 at 0, length at 1..9, padding 9..12, elements at 12..20.
    assert_eq!(bytes.len(), 20);
    assert_eq!(&bytes[9..12], &[0, 0, 0]);
    assert_eq!(&bytes[12..16], &[4, 3, 2, 1]);
    assert_eq!(decode_from::<(u8, Vec<u32>)>(&bytes).unwrap(), value);
    // The same vector at another offset pads differently.
    assert_eq!(vec![1u32].encoded_len(0), 12);
    assert_eq!(vec![1u32].encoded_len(1), 15);
    assert_eq!(vec![1u8].encoded_len(3), 9);
    roundtrip([1.5f64, 2.5]);
    roundtrip((true, [7u16; 5]));
}

#[test]
fn non_zero_padding_is_rejected() {
    let mut bytes = encode_to_vec(&(1u8, vec![9u32]));
    bytes[10] = 1;
    assert_eq!(
        decode_from::<(u8, Vec<u32>)>(&bytes).unwrap_err(),
        DecodeError::NonZeroPadding { offset: 10 }
    );
}

#[test]
fn short_and_long_padding_are_checked_byte_by_byte() {
    let mut bytes = vec![0u8; 200];
    for (start, align, bad, end) in [(1, 8, 5, 8), (1, 64, 40, 64), (65, 128, 127, 128)] {
        let mut decoder = Decoder::new(&bytes);
        decoder.skip(start, "lead").unwrap();
        decoder.skip_padding(align).unwrap();
        assert_eq!(decoder.position(), end);
        bytes[bad] = 1;
        let mut decoder = Decoder::new(&bytes);
        decoder.skip(start, "lead").unwrap();
        assert_eq!(
            decoder.skip_padding(align).unwrap_err(),
            DecodeError::NonZeroPadding { offset: bad }
        );
        bytes[bad] = 0;
    }
    let mut decoder = Decoder::new(&bytes[..100]);
    decoder.skip(1, "lead").unwrap();
    assert!(matches!(
        decoder.skip_padding(128).unwrap_err(),
        DecodeError::UnexpectedEnd {
            offset: 1,
            needed: 127,
            ..
        }
    ));
}

#[test]
fn pod_slice_borrows_aligned_input() {
    let value = vec![1u64, 2, 3];
    // A u64 buffer is 8-aligned, so the data at offset 8 is aligned in memory too.
    let mut storage = [0u64; 5];
    let bytes = zerocopy::IntoBytes::as_mut_bytes(&mut storage[..]);
    let len = encode_into(&value, bytes);
    assert_eq!(len, 32);
    let items = decode_pod_slice::<u64>(&bytes[..len]).unwrap();
    assert_eq!(items, &[1, 2, 3]);
    assert_eq!(
        items.as_ptr().cast::<u8>(),
        bytes[8..].as_ptr(),
        "borrowed in place"
    );
    assert_eq!(
        decode_pod_slice::<u64>(&bytes[..len + 1]),
        Err(DecodeError::TrailingBytes {
            offset: 32,
            len: 33
        })
    );
    // Shifted by one byte in memory, the same offsets are misaligned.
    let mut shifted = vec![0u8; len + 1];
    shifted[1..].copy_from_slice(&bytes[..len]);
    if !(shifted.as_ptr() as usize + 9).is_multiple_of(8) {
        assert_eq!(
            decode_pod_slice::<u64>(&shifted[1..]),
            Err(DecodeError::Misaligned {
                offset: 8,
                align: 8
            })
        );
    }
}

#[test]
fn depth_is_limited() {
    let mut decoder = Decoder::new(&[]);
    fn descend(decoder: &mut Decoder<'_>, levels: u32) -> Result<(), DecodeError> {
        if levels == 0 {
            return Ok(());
        }
        decoder.nested(|decoder| descend(decoder, levels - 1))
    }
    assert!(descend(&mut decoder, MAX_DEPTH).is_ok());
    assert_eq!(
        descend(&mut decoder, MAX_DEPTH + 1).unwrap_err(),
        DecodeError::TooDeep {
            offset: 0,
            limit: MAX_DEPTH
        }
    );
    // The counter is restored after errors.
    assert!(descend(&mut decoder, MAX_DEPTH).is_ok());
}

#[test]
fn nested_containers_roundtrip() {
    roundtrip(vec![Some(vec![String::from("x")]), None]);
    roundtrip(Box::new((1u8, 'x', vec![vec![1i16]])));
    roundtrip([String::from("a"), String::from("b")]);
    roundtrip((
        (),
        ((),),
        (
            1u8, 2u16, 3u32, 4u64, 5u128, 6i8, 7i16, 8i32, 9i64, 10i128, 11.0f32, 12.0f64,
        ),
    ));
    roundtrip(vec![[1u8; 3]; 4]);
}

#[test]
fn array_of_non_pod_checks_its_minimum_before_allocating() {
    assert!(matches!(
        decode_from::<[String; 1000]>(&[0; 16]),
        Err(DecodeError::UnexpectedEnd { needed: 8000, .. })
    ));
}

#[test]
fn error_context_names_the_field_path() {
    let error = DecodeError::InvalidBool {
        offset: 3,
        found: 9,
    }
    .in_field("Inner", "flag")
    .in_field("Outer", "inner");
    assert_eq!(
        error.to_string(),
        "in `Outer.inner`: in `Inner.flag`: invalid bool at byte 3: expected 0 or 1, found 9"
    );
    assert_eq!(
        error.root_cause(),
        &DecodeError::InvalidBool {
            offset: 3,
            found: 9
        }
    );
}

#[test]
fn memory_is_charged_once_per_collection_with_what_it_takes() {
    let budget = |len: usize| MEMORY_PER_BYTE * len + MEMORY_BASE;
    // Three strings: the outer vector's 3 × 24 bytes, then each string's bytes.
    let bytes = encode_to_vec(&vec![String::from("ab"), String::new(), String::from("c")]);
    let mut decoder = Decoder::new(&bytes);
    Vec::<String>::decode(&mut decoder).unwrap();
    assert_eq!(budget(bytes.len()) - decoder.memory_left(), 3 * 24 + 2 + 1);
    // A box is charged its value's size; `decode_into` charges what `decode` charges.
    let bytes = encode_to_vec(&Some(Box::new([7u64; 4])));
    let mut decoder = Decoder::new(&bytes);
    let mut boxed = Option::<Box<[u64; 4]>>::decode(&mut decoder).unwrap();
    assert_eq!(budget(bytes.len()) - decoder.memory_left(), 32);
    let mut decoder = Decoder::new(&bytes);
    boxed.decode_into(&mut decoder).unwrap();
    assert_eq!(budget(bytes.len()) - decoder.memory_left(), 32);
    // Zero-sized elements take no memory, only elements.
    let bytes = encode_to_vec(&vec![(); 100]);
    let mut decoder = Decoder::new(&bytes);
    Vec::<()>::decode(&mut decoder).unwrap();
    assert_eq!(decoder.memory_left(), budget(8));
    assert_eq!(
        decoder.budget_left(),
        8 * BUDGET_PER_BYTE + BUDGET_BASE - 100
    );
}

#[test]
fn memory_budget_exceeded_names_the_budget_and_the_fix() {
    // 20 `None`s of 4096 bytes each: 28 input bytes, 82 KB of memory, over 32 × 28 + 64 KiB.
    let bytes = encode_to_vec(&vec![None::<[u8; 4096]>; 20]);
    let error = decode_from::<Vec<Option<[u8; 4096]>>>(&bytes).unwrap_err();
    assert_eq!(
        error,
        DecodeError::MemoryBudgetExceeded {
            offset: 0,
            what: "core::option::Option<[u8; 4096]>",
            bytes: 20 * 4097,
            left: MEMORY_PER_BYTE * 28 + MEMORY_BASE,
            len: 28,
        }
    );
    assert_eq!(
        error.to_string(),
        format!(
            "decode memory budget exceeded at byte 0: core::option::Option<[u8; 4096]> needs \
             81940 bytes, but only {} are left of the budget for 28 input bytes (the input is \
             corrupt or hostile, or the value holds elements much larger in memory than in \
             their encoding, such as mostly-`None` `Option<[u8; 4096]>` or an enum with one \
             large variant: box the large part)",
            MEMORY_PER_BYTE * 28 + MEMORY_BASE
        )
    );
    // `decode_into` refuses it alike, whatever storage the value holds.
    let mut previous = vec![Some([1u8; 4096]); 30];
    assert_eq!(decode_from_into(&bytes, &mut previous), Err(error));
    // Boxed, the same value fits.
    let boxed = vec![None::<Box<[u8; 4096]>>; 20];
    roundtrip(boxed);
}

#[test]
fn a_refused_allocation_is_an_error_not_an_abort() {
    let bytes = [0u8; 8];
    let decoder = Decoder::new(&bytes);
    let mut vec = Vec::<u64>::new();
    // 2^63 - 8 bytes: a valid layout that no allocator grants.
    let error = decoder.reserve(&mut vec, usize::MAX / 16).unwrap_err();
    assert!(
        matches!(
            error,
            DecodeError::OutOfMemory {
                offset: 0,
                what: "u64",
                bytes,
                ..
            } if bytes == usize::MAX / 16 * 8
        ),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .starts_with("out of memory at byte 0: reserving "),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .ends_with("raise the process's memory limit or send a smaller value"),
        "{error}"
    );
    assert!(std::error::Error::source(&error).is_some());
}
