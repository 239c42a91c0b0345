//! Collects errors so the user sees all of them from one build (after serde_derive's `Ctxt`).

use quote::ToTokens;
use std::cell::RefCell;
use std::fmt::Display;
use std::thread;

/// Spanned errors found while parsing and validating one derive input.
///
/// Must be consumed with [`Ctxt::check`]; dropping it unchecked is a bug in the macro.
pub(crate) struct Ctxt {
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    pub(crate) fn new() -> Self {
        Ctxt {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// Records an error spanning the tokens of `object`.
    pub(crate) fn error_spanned_by<A: ToTokens, T: Display>(&self, object: A, message: T) {
        self.syn_error(syn::Error::new_spanned(object.into_token_stream(), message));
    }

    /// Records a `syn` error.
    pub(crate) fn syn_error(&self, error: syn::Error) {
        self.errors
            .borrow_mut()
            .as_mut()
            .expect("Ctxt::check was already called")
            .push(error);
    }

    /// Consumes the context: `Err` with every recorded error, if any.
    pub(crate) fn check(self) -> Result<(), Vec<syn::Error>> {
        let errors = self.errors.borrow_mut().take().unwrap_or_default();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !thread::panicking() && self.errors.borrow().is_some() {
            panic!("forgot to check for errors");
        }
    }
}
