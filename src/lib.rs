#![doc = include_str!("../README.md")]
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
