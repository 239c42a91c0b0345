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
///
/// # Examples
/// ```
/// use tandem::{decode_from, encode_to_vec, Payload};
///
/// #[derive(Payload, Debug, PartialEq)]
/// struct Particle {
///     pdg_id: i32,
///     momentum: [f64; 3],
/// }
///
/// #[derive(Payload, Debug, PartialEq)]
/// enum Trigger {
///     MinimumBias,
///     SingleMuon { pt_threshold: f32 },
/// }
///
/// #[derive(Payload, Debug, PartialEq)]
/// struct Event {
///     number: u64,
///     trigger: Trigger,
///     particles: Vec<Particle>,
/// }
///
/// let event = Event {
///     number: 42,
///     trigger: Trigger::SingleMuon { pt_threshold: 24.0 },
///     particles: vec![Particle { pdg_id: 13, momentum: [10.0, -3.5, 52.0] }],
/// };
/// let bytes = encode_to_vec(&event);
/// assert_eq!(decode_from::<Event>(&bytes)?, event);
/// // The fingerprint follows the structure: both sides of a channel must agree on it.
/// assert_ne!(Event::FINGERPRINT, Particle::FINGERPRINT);
/// # Ok::<(), tandem::DecodeError>(())
/// ```
///
/// A plain-old-data struct, copied in bulk, is shown at `tandem::zerocopy`.
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
/// again before the failed call is retried; `borrow` lets the worker read a `Vec<E>` input of
/// plain-old-data elements in place (`tandem::TrustedSlice`); `reuse` keeps the worker's input
/// and output between calls (below); `item` and `end` mark the transitions a `tandem::Pool`
/// distributes and sends at the end of a block. Container attributes:
/// `#[transitions(setup = S)]` for the setup payload delivered during the handshake (`()`
/// without it: `spawn` then takes `&()`, and passing anything else says so),
/// `#[transitions(crate = "path")]` if the tandem dependency was renamed.
///
/// A variant whose method would clash with a generated one (`spawn`, `restart`, `serve`...)
/// is refused; rename it.
///
/// # Reusing a transition's storage: `reuse`
/// By default a worker method takes its input by value and returns its output, so a large
/// payload costs a fresh allocation (and its page faults) on every call. With
/// `#[transition(input = I, output = O, reuse)]` the worker's serve loop keeps one input and
/// one output value per transition for as long as it serves, and the method works on them:
///
/// ```text
/// fn name(&mut self, context: &mut Context, input: &mut I, output: &mut O) -> Result<(), WorkerError>
/// ```
///
/// - `input` holds this call's input, decoded into the value the previous call left there
///   (its storage reused: `Payload::decode_into`). Take ownership with `std::mem::take` when
///   needed.
/// - `output` holds what the previous call left in it, `Default::default()` the first time:
///   the method overwrites it (`clear` then fill, typically), and it is encoded into the reply
///   when the method returns `Ok`. After an error (the method's, or an input that does not
///   decode) both values stay as they were left, valid but possibly changed.
/// - A transition without an input or an output has no such parameter; one with neither is
///   refused. Both kept types must implement `Default`, which the error names otherwise.
/// - With `borrow`, the input is read in place as before (a `TrustedSlice`) and only the
///   output is kept; `borrow, reuse` without an output is refused.
/// - Nothing changes on the wire or for the controller: the controller refills its own
///   storage with `TypedController::call_into`. After a worker restart the kept values start
///   from `Default::default()` again.
///
/// ```
/// use tandem::{Context, Transitions, WorkerError};
///
/// #[derive(Transitions)]
/// enum Digitizer {
///     /// Converts ADC counts to energies, 64 MiB per event.
///     #[transition(input = Vec<u16>, output = Vec<f32>, reuse)]
///     Digitize,
/// }
///
/// struct Gain(f32);
///
/// impl DigitizerWorker for Gain {
///     fn digitize(
///         &mut self,
///         _: &mut Context,
///         counts: &mut Vec<u16>,   // this event's counts, in last event's storage
///         energies: &mut Vec<f32>, // last event's energies: refill them
///     ) -> Result<(), WorkerError> {
///         energies.clear();
///         energies.extend(counts.iter().map(|&count| f32::from(count) * self.0));
///         Ok(())
///     }
/// }
/// ```
///
/// # Examples
/// One binary that is both controller and worker: started by a controller, it serves the
/// transitions; otherwise it spawns itself as a worker and drives it.
/// ```no_run
/// use std::process::Command;
/// use tandem::{Context, Options, Payload, TimeoutPolicy, Transitions, WorkerError};
///
/// #[derive(Payload)]
/// struct Geometry { tag: String }
/// #[derive(Payload)]
/// struct LumiSection { run: u32, lumi: u32 }
/// #[derive(Payload)]
/// struct RawEvent { number: u64, hits: Vec<f32> }
///
/// #[derive(Transitions)]
/// #[transitions(setup = Geometry)]
/// enum Reco {
///     /// Opens a lumi section; replayed to a restarted worker.
///     #[transition(input = LumiSection, replay)]
///     BeginLumi,
///     /// Reconstructs one event into a number of clusters.
///     #[transition(input = RawEvent, output = u32)]
///     Event,
///     /// How many events the lumi section had.
///     #[transition(output = u64)]
///     EndLumi,
/// }
///
/// struct Reconstruction { events: u64 }
///
/// impl RecoWorker for Reconstruction {
///     fn begin_lumi(&mut self, _: &mut Context, _: LumiSection) -> Result<(), WorkerError> {
///         self.events = 0;
///         Ok(())
///     }
///     fn event(&mut self, context: &mut Context, event: RawEvent) -> Result<u32, WorkerError> {
///         self.events += 1;
///         let clusters = event.hits.iter().filter(|&&energy| energy > 0.5).count() as u32;
///         context.set_keep(clusters > 0); // the filter decision travels with the output
///         Ok(clusters)
///     }
///     fn end_lumi(&mut self, _: &mut Context) -> Result<u64, WorkerError> {
///         Ok(self.events)
///     }
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     if Reconstruction::serve_from_env(|_geometry| Ok(Reconstruction { events: 0 }))? {
///         return Ok(()); // served as a worker until the controller stopped it
///     }
///     let worker = Command::new(std::env::current_exe()?);
///     let geometry = Geometry { tag: "run3-v2".into() };
///     let mut reco = RecoController::spawn(worker, 0, Options::default(), &geometry)?;
///     reco.typed_mut().set_timeout_policy(TimeoutPolicy::wait_longer(2));
///     reco.begin_lumi(1, &LumiSection { run: 380_000, lumi: 1 })?;
///     let response = reco.event(7, &RawEvent { number: 7, hits: vec![0.2, 3.1, 0.9] })?;
///     println!("{} clusters, keep: {}", response.output, response.keep);
///     assert_eq!(reco.end_lumi(1)?.output, 1);
///     reco.shutdown();
///     Ok(())
/// }
/// ```
#[proc_macro_derive(Transitions, attributes(transitions, transition))]
pub fn derive_transitions(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    transitions::expand(&input).into()
}
