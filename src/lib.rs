#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub use tandem_macros::{Payload, Transitions};
pub use tandem_runtime::*;

/// What generated code may touch. Not public API: no stability guarantees.
#[doc(hidden)]
pub mod __private {
    pub use tandem_runtime::__private::*;
}
