//! Structural fingerprints: every change of name, type or order changes them, and the hashing
//! scheme stays fixed across builds.

#![allow(dead_code, unreachable_pub, clippy::vec_box)]

use tandem::Payload;

mod base {
    #[derive(tandem::Payload)]
    pub struct Point {
        pub x: f64,
        pub y: f64,
    }
}
mod renamed_field {
    #[derive(tandem::Payload)]
    pub struct Point {
        pub x: f64,
        pub z: f64,
    }
}
mod retyped_field {
    #[derive(tandem::Payload)]
    pub struct Point {
        pub x: f64,
        pub y: f32,
    }
}
mod reordered {
    #[derive(tandem::Payload)]
    pub struct Point {
        pub y: f64,
        pub x: f64,
    }
}
mod renamed_type {
    #[derive(tandem::Payload)]
    pub struct Pt {
        pub x: f64,
        pub y: f64,
    }
}
mod tuple_struct {
    #[derive(tandem::Payload)]
    pub struct Point(pub f64, pub f64);
}
mod as_enum {
    #[derive(tandem::Payload)]
    pub enum Point {
        X(f64),
        Y(f64),
    }
}
mod extra_field {
    #[derive(tandem::Payload)]
    pub struct Point {
        pub x: f64,
        pub y: f64,
        pub z: (),
    }
}
mod pod {
    #[derive(
        tandem::Payload,
        tandem::zerocopy::IntoBytes,
        tandem::zerocopy::FromBytes,
        tandem::zerocopy::Immutable,
    )]
    #[zerocopy(crate = "tandem::zerocopy")]
    #[payload(pod)]
    #[repr(C)]
    pub struct Point {
        pub x: f64,
        pub y: f64,
    }
}
mod enums {
    #[derive(tandem::Payload)]
    pub enum A {
        One,
        Two(u8),
    }
    #[derive(tandem::Payload)]
    pub enum VariantRenamed {
        One,
        Deux(u8),
    }
    #[derive(tandem::Payload)]
    pub enum VariantsReordered {
        Two(u8),
        One,
    }
    #[derive(tandem::Payload)]
    pub struct Tree {
        pub children: Vec<Tree>,
    }
    #[derive(tandem::Payload)]
    pub struct BoxedTree {
        pub children: Vec<Box<BoxedTree>>,
    }
}

#[test]
fn every_structural_change_changes_the_fingerprint() {
    let fingerprints = [
        ("base", base::Point::FINGERPRINT),
        ("renamed field", renamed_field::Point::FINGERPRINT),
        ("retyped field", retyped_field::Point::FINGERPRINT),
        ("reordered", reordered::Point::FINGERPRINT),
        ("renamed type", renamed_type::Pt::FINGERPRINT),
        ("tuple struct", tuple_struct::Point::FINGERPRINT),
        ("enum", as_enum::Point::FINGERPRINT),
        ("extra field", extra_field::Point::FINGERPRINT),
        ("pod", pod::Point::FINGERPRINT),
        ("enum A", enums::A::FINGERPRINT),
        ("variant renamed", enums::VariantRenamed::FINGERPRINT),
        ("variants reordered", enums::VariantsReordered::FINGERPRINT),
        ("tree", enums::Tree::FINGERPRINT),
        ("boxed tree", enums::BoxedTree::FINGERPRINT),
        ("Vec<u8>", <Vec<u8>>::FINGERPRINT),
        ("String", String::FINGERPRINT),
        ("Option<u8>", <Option<u8>>::FINGERPRINT),
        ("[u8; 1]", <[u8; 1]>::FINGERPRINT),
        ("[u8; 2]", <[u8; 2]>::FINGERPRINT),
        ("(u8,)", <(u8,)>::FINGERPRINT),
        ("u8", u8::FINGERPRINT),
        ("i8", i8::FINGERPRINT),
        ("usize", usize::FINGERPRINT),
        ("u64", u64::FINGERPRINT),
    ];
    for (i, (a_name, a)) in fingerprints.iter().enumerate() {
        for (b_name, b) in &fingerprints[i + 1..] {
            assert_ne!(a, b, "{a_name} and {b_name} share a fingerprint");
        }
    }
}

#[test]
fn fingerprints_are_stable_across_builds() {
    // Literal values, computed independently (FNV-1a 64 over the length-prefixed pieces
    // "u32"; and "struct" "Point" "named" 2 "x" fp(f64) "y" fp(f64)). If these change, the hashing scheme changed and old peers will refuse
    // to talk to new ones. Change them only on purpose.
    assert_eq!(
        u32::FINGERPRINT,
        0x2af3_01d2_8e19_8634,
        "{:#x}",
        u32::FINGERPRINT
    );
    assert_eq!(
        base::Point::FINGERPRINT,
        0x28f5_6804_cc1f_4e4c,
        "{:#x}",
        base::Point::FINGERPRINT
    );
}

#[test]
fn fingerprints_are_usable_in_const_context() {
    const PAIR: [u64; 2] = [base::Point::FINGERPRINT, <Vec<base::Point>>::FINGERPRINT];
    assert_ne!(PAIR[0], PAIR[1]);
}
