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
/// `Payload` (a type that does not is reported at the field by the trait's own message;
/// references, raw and function pointers, trait objects and slices are refused with a
/// message saying what to send instead), and every type parameter gets a `Payload` bound.
/// Container attributes:
/// - `#[payload(pod)]`: the struct is plain old data. It must also derive zerocopy's
///   `IntoBytes`, `FromBytes` and `Immutable`, re-exported as `tandem::zerocopy` (add
///   `#[zerocopy(crate = "tandem::zerocopy")]` so that no zerocopy dependency is needed);
///   it is encoded as its memory, and vectors and arrays of it are copied in bulk.
/// - `#[payload(crate = "path")]`: where to find tandem if the dependency was renamed.
#[proc_macro_derive(Payload, attributes(payload))]
pub fn derive_payload(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    payload::expand(&input).into()
}

/// Derives `tandem::Transitions` on a fieldless enum, one variant per transition, and
/// generates `<Enum>Worker` (a trait with one method per transition, `serve` and
/// `serve_from_env`) and `<Enum>Controller` (one method per transition beside `spawn`,
/// `shutdown`, `restart`, `restarts`, `set_restart_policy`, `recovered_failures`, and
/// `typed` / `typed_mut` for the `TypedController` underneath). A variant's doc comments are
/// carried to its two methods.
///
/// Variant attribute `#[transition(input = T, output = U, replay)]`: every key optional (a
/// bare `#[transition]` or none at all is a transition without payloads); a missing payload
/// is `()`; `replay` marks a state-establishing transition that a restarted worker is given
/// again before the failed call is retried. Container attributes:
/// `#[transitions(setup = S)]` for the setup payload delivered during the handshake (`()`
/// without it: `spawn` then takes `&()`, and passing anything else says so),
/// `#[transitions(crate = "path")]` if the tandem dependency was renamed.
///
/// A variant whose method would clash with a generated one (`spawn`, `restart`, `serve`...)
/// is refused; rename it.
#[proc_macro_derive(Transitions, attributes(transitions, transition))]
pub fn derive_transitions(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    transitions::expand(&input).into()
}
