//! Drive crash-prone native code in worker processes through typed transitions over shared
//! memory.
//!
//! One process, the *controller*, starts worker processes and drives each through a typed
//! sequence of *transitions* (begin-run, event, end-lumi...), exchanging their inputs and
//! outputs through shared memory at microsecond cost per call. The code that could crash, is
//! not thread-safe or is not trusted (a legacy Fortran or C++ generator, a C library behind
//! FFI) runs in the workers; the controller survives them: a worker's error, panic, crash,
//! death or silence arrives as a typed [`ChannelError`] within about a millisecond (a crash
//! with the crashed thread's symbolized backtrace), and the worker can be restarted and its
//! state replayed so the run continues reproducibly. It is the Rust successor of CMSSW's
//! `FWCore/SharedMemory`. Linux 5.4 or newer, x86_64 and aarch64.
//!
//! # Example
//!
//! Types describe themselves ([`derive(Payload)`](macro@Payload)), the protocol is an enum
//! ([`derive(Transitions)`](macro@Transitions), which generates `CalorimeterController` and
//! the `CalorimeterWorker` trait), and the same binary is the controller and, when the
//! controller starts it, the worker (`examples/minimal.rs`):
//!
//! ```no_run
#![doc = include_str!("../examples/minimal.rs")]
//! ```
//!
//! The encoding works on its own too, without processes:
//!
//! ```
//! use tandem::{decode_from, encode_to_vec, Payload};
//!
//! #[derive(Payload, Debug, PartialEq)]
//! enum Hit {
//!     Calorimeter { cell: u32, energy: f64 },
//!     Tracker(Vec<[f32; 3]>),
//! }
//!
//! let hits = vec![Hit::Calorimeter { cell: 7, energy: 1.5 }, Hit::Tracker(vec![[0.0; 3]])];
//! let bytes = encode_to_vec(&hits);
//! assert_eq!(decode_from::<Vec<Hit>>(&bytes)?, hits);
//! // Any input decodes to a value or an error naming where it went wrong, never a panic.
//! assert!(decode_from::<Vec<Hit>>(&bytes[..bytes.len() - 1]).is_err());
//! # Ok::<(), tandem::DecodeError>(())
//! ```
//!
//! # The API
//!
//! **Typed protocols**, where most programs start:
//! - [`derive(Payload)`](macro@Payload) makes a type cross the process boundary
//!   (the [`Payload`] trait; the format is the [`codec`] module's documentation).
//! - [`derive(Transitions)`](macro@Transitions) on an enum generates `<Enum>Controller`
//!   (wrapping a [`TypedController`]), the `<Enum>Worker` trait with one method per
//!   transition, and, when a transition is marked `item`, `<Enum>Pool`. A worker method gets
//!   a [`Context`] (keep flag, attempt number) and returns its output or a [`WorkerError`];
//!   the controller gets a [`Response`] (output and keep flag). [`RestartPolicy`],
//!   [`TimeoutPolicy`] and [`SetupRetry`](typed::SetupRetry) say what happens when a worker is lost, slow, or
//!   slow to start. [`TrustedSlice`] is a worker's in-place view of plain-old-data input.
//! - [`Pool`] is the engine of `<Enum>Pool`: items to free workers, results in submission
//!   order, lost workers restarted and their items retried ([`PoolOptions`],
//!   [`PoolEvent`](pool::PoolEvent), [`EndOutput`](pool::EndOutput), [`PoolStopper`](pool::PoolStopper)).
//!
//! **The untyped layer** beneath, close to the reference's API: [`Controller`] spawns a
//! worker and owns its channel; [`ControllerChannel`] and [`WorkerChannel`] are the two ends
//! of a channel ([`Options`], [`Reply`](channel::Reply), [`TransitionRequest`], [`ChannelConfig`](channel::ChannelConfig),
//! [`WaitStats`](channel::WaitStats)); [`WriteBuffer`] and [`ReadBuffer`] are its growable shared-memory buffers,
//! and [`SharedBytes`](codec::SharedBytes) the copy-once view of what the peer wrote.
//!
//! **Failures**: [`ChannelError`] is what every transition can return: its variants tell a
//! worker's error from its crash, death or time-out, and
//! [`requires_restart`](ChannelError::requires_restart) says when the channel needs a
//! restart. The [`crash`] module holds crash backtraces ([`CrashBacktrace`](crash::CrashBacktrace),
//! [`CrashCapture`](crash::CrashCapture)); the [`monitor`] module the worker's fatal-signal handling
//! ([`WorkerMonitor`], usable on its own); [`Sandbox`] confines workers (seccomp, Landlock,
//! resource limits). Each area has its error: [`BufferError`], [`DecodeError`],
//! [`PoolError`], [`MonitorError`](monitor::MonitorError), [`SandboxError`](sandbox::SandboxError).
//!
//! **Async controllers** (feature `tokio`):
#![cfg_attr(
    feature = "tokio",
    doc = "[`AsyncController`] and [`AsyncTypedController`], calls awaited on a tokio runtime."
)]
#![cfg_attr(
    not(feature = "tokio"),
    doc = "`AsyncController` and `AsyncTypedController`, calls awaited on a tokio runtime."
)]
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `backtrace` | on | crash backtraces unwound and symbolized in the controller (without it, a crash report names the program counter and its module) |
//! | `tokio` | off | `AsyncController` and `AsyncTypedController` |
//!
//! # Further reading
//!
//! Pages in the repository:
//! - the [README]: the short tour, and the two commands that run the main example and the
//!   tests;
//! - the [guide]: a complete protocol, the pool, errors, restart and time-outs, async
//!   controllers;
//! - [the untyped layer][untyped] beneath the derives; [the encoding][encoding];
//! - the [trust model][security], the [worker sandbox][sandbox], [crash reports], what a
//!   [decode][decoding] may cost, the [design] notes, and the [measurements];
//! - the [CHANGELOG].
//!
//! [README]: https://example.invalid/tandem/blob/main/README.md
//! [guide]: https://example.invalid/tandem/blob/main/docs/guide.md
//! [untyped]: https://example.invalid/tandem/blob/main/docs/untyped.md
//! [encoding]: https://example.invalid/tandem/blob/main/docs/encoding.md
//! [security]: https://example.invalid/tandem/blob/main/docs/security.md
//! [sandbox]: https://example.invalid/tandem/blob/main/docs/sandbox.md
//! [crash reports]: https://example.invalid/tandem/blob/main/docs/crash-reports.md
//! [decoding]: https://example.invalid/tandem/blob/main/docs/decoding.md
//! [design]: https://example.invalid/tandem/blob/main/docs/design.md
//! [measurements]: https://example.invalid/tandem/blob/main/docs/measurements.md
//! [CHANGELOG]: https://example.invalid/tandem/blob/main/CHANGELOG.md
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub use tandem_macros::{Payload, Transitions};
pub use tandem_runtime::*;

/// zerocopy, which `#[payload(pod)]` structs derive `IntoBytes`, `FromBytes` and `Immutable`
/// from, re-exported so that users need no zerocopy dependency of their own. Its derives
/// generate paths to `::zerocopy`, so point them here with `#[zerocopy(crate = "...")]`:
///
/// ```
/// use tandem::zerocopy::{FromBytes, Immutable, IntoBytes};
/// use tandem::Payload;
///
/// #[derive(Payload, IntoBytes, FromBytes, Immutable, Clone, Copy)]
/// #[zerocopy(crate = "tandem::zerocopy")]
/// #[payload(pod)]
/// #[repr(C)]
/// struct Hit {
///     channel: u32,
///     energy: f32,
/// }
///
/// let hits = vec![Hit { channel: 7, energy: 1.5 }; 3];
/// let bytes = tandem::encode_to_vec(&hits);
/// assert_eq!(tandem::decode_from::<Vec<Hit>>(&bytes).unwrap()[2].channel, 7);
/// ```
#[doc(no_inline)]
pub use tandem_runtime::__private::zerocopy;

/// What generated code may touch. Not public API: no stability guarantees.
#[doc(hidden)]
pub mod __private {
    pub use tandem_runtime::__private::*;
}

/// The code blocks of the README and of every page in `docs/`, compiled and run as doctests:
/// the crate's front page is the one above, so these pages are tested here.
#[cfg(doctest)]
mod markdown_doctests {
    #[doc = include_str!("../README.md")]
    struct Readme;

    #[doc = include_str!("../docs/README.md")]
    struct DocsIndex;

    #[doc = include_str!("../docs/guide.md")]
    struct Guide;

    #[doc = include_str!("../docs/untyped.md")]
    struct Untyped;

    #[doc = include_str!("../docs/encoding.md")]
    struct Encoding;

    #[doc = include_str!("../docs/main-job.md")]
    struct MainJob;

    #[doc = include_str!("../docs/security.md")]
    struct Security;

    #[doc = include_str!("../docs/sandbox.md")]
    struct Sandbox;

    #[doc = include_str!("../docs/crash-reports.md")]
    struct CrashReports;

    #[doc = include_str!("../docs/decoding.md")]
    struct Decoding;

    #[doc = include_str!("../docs/standalone-parts.md")]
    struct StandaloneParts;

    /// Its blocks need the async types.
    #[cfg(feature = "tokio")]
    #[doc = include_str!("../docs/async.md")]
    struct Async;

    #[doc = include_str!("../docs/wait-path.md")]
    struct WaitPath;

    #[doc = include_str!("../docs/design.md")]
    struct Design;

    #[doc = include_str!("../docs/measurements.md")]
    struct Measurements;
}
