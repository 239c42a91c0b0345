//! The derive's output depends on nothing the user has in scope: it works under
//! `#![no_implicit_prelude]` and beside items that shadow common names.

#![no_implicit_prelude]
#![allow(dead_code, non_camel_case_types, unreachable_pub)]

mod shadowing {
    // Names generated code might carelessly use unqualified.
    pub struct Vec;
    pub struct String;
    pub struct Option;
    pub struct Box;
    pub struct Payload;
    pub struct Encoder;
    pub struct Decoder;
    pub struct DecodeError;
    pub struct usize;
    pub struct u64;
    pub type Result = ();
    pub type Ok = ();
    pub type Err = ();
    pub mod core {}
    pub mod std {}
    pub mod tandem {}
    pub mod _tandem {}
}

mod derives {
    #![no_implicit_prelude]
    #![allow(unused_imports)]
    use super::shadowing::*;

    #[derive(::tandem::Payload)]
    pub struct Named {
        pub encoder: ::std::string::String,
        pub decoder: ::std::vec::Vec<::core::primitive::u32>,
        pub offset: ::core::option::Option<::std::boxed::Box<Named>>,
    }

    #[derive(::tandem::Payload)]
    pub struct Tuple(
        pub ::core::primitive::u8,
        pub (::core::primitive::bool, ::core::primitive::char),
    );

    #[derive(::tandem::Payload)]
    pub struct Unit;

    #[derive(::tandem::Payload)]
    pub enum Choice<T, const N: ::core::primitive::usize> {
        Nothing,
        Some(T),
        Many {
            items: [T; N],
            __field0: ::core::primitive::u8,
        },
    }

    #[derive(
        ::tandem::Payload,
        ::tandem::zerocopy::IntoBytes,
        ::tandem::zerocopy::FromBytes,
        ::tandem::zerocopy::Immutable,
        ::core::clone::Clone,
        ::core::marker::Copy,
    )]
    #[zerocopy(crate = "::tandem::zerocopy")]
    #[payload(pod)]
    #[repr(C)]
    pub struct Pod {
        pub a: ::core::primitive::u32,
        pub b: ::core::primitive::f32,
    }
}

#[test]
fn derived_types_work_without_the_prelude() {
    use ::core::assert_eq;
    use ::core::option::Option::{None, Some};
    use ::tandem::{decode_from, encode_to_vec, Payload};

    let named = derives::Named {
        encoder: ::std::borrow::ToOwned::to_owned("e"),
        decoder: ::std::vec![1, 2],
        offset: Some(::std::boxed::Box::new(derives::Named {
            encoder: ::std::string::String::new(),
            decoder: ::std::vec::Vec::new(),
            offset: None,
        })),
    };
    let bytes = encode_to_vec(&named);
    let back: derives::Named = decode_from(&bytes).unwrap();
    assert_eq!(back.encoder, "e");
    assert_eq!(back.decoder, [1, 2]);
    ::core::assert!(back.offset.unwrap().offset.is_none());

    let choice: derives::Choice<derives::Pod, 2> = derives::Choice::Many {
        items: [derives::Pod { a: 1, b: 2.0 }; 2],
        __field0: 3,
    };
    let bytes = encode_to_vec(&choice);
    match decode_from::<derives::Choice<derives::Pod, 2>>(&bytes).unwrap() {
        derives::Choice::Many { items, __field0 } => {
            assert_eq!(items[1].a, 1);
            assert_eq!(__field0, 3);
        }
        _ => ::core::panic!("wrong variant"),
    }
    let tuple = derives::Tuple(1, (true, 'x'));
    assert_eq!(
        decode_from::<derives::Tuple>(&encode_to_vec(&tuple))
            .unwrap()
            .1,
        (true, 'x')
    );
    assert_eq!(derives::Unit.encoded_len(0), 0);
}
