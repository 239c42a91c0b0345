//! Derive macros of tandem. Use them through the `tandem` crate, which re-exports them.
#![forbid(unsafe_code)]

mod internals;
mod payload;
mod transitions;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `tandem::Payload`: a fixed binary encoding and a structural fingerprint.
///
/// Works on structs (named, tuple, unit) and enums; every field type must implement
/// `Payload`, and every type parameter gets a `Payload` bound. Container attributes:
/// - `#[payload(pod)]`: the struct is plain old data (it must also derive zerocopy's
///   `IntoBytes`, `FromBytes` and `Immutable`); it is encoded as its memory, and vectors and
///   arrays of it are copied in bulk.
/// - `#[payload(crate = "path")]`: where to find tandem if the dependency was renamed.
#[proc_macro_derive(Payload, attributes(payload))]
pub fn derive_payload(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    payload::expand(&input).into()
}

/// Derives `tandem::Transitions` on a fieldless enum, one variant per transition, and
/// generates `<Enum>Worker` (a trait with one method per transition, and the dispatch that
/// serves it) and `<Enum>Controller` (one typed method per transition).
///
/// Variant attribute `#[transition(input = T, output = U, replay)]`: each key optional;
/// a missing payload is `()`; `replay` marks a state-establishing transition that a
/// restarted worker is given again before the failed call is retried. Container attributes:
/// `#[transitions(setup = S)]` for the setup payload delivered during the handshake,
/// `#[transitions(crate = "path")]` if the tandem dependency was renamed.
#[proc_macro_derive(Transitions, attributes(transitions, transition))]
pub fn derive_transitions(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    transitions::expand(&input).into()
}
