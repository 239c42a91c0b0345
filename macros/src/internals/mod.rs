//! Parsing and validation shared by the derives: parse (`ast`, `attr`), validate (`check`),
//! with every error collected in a `ctxt::Ctxt`.

pub(crate) mod ast;
pub(crate) mod attr;
pub(crate) mod check;
pub(crate) mod ctxt;

use proc_macro2::TokenStream;
use quote::quote;

/// The statement that binds the runtime crate to `_tandem` inside the generated `const _`
/// block: `extern crate tandem` by default, so generated code works whatever the user imported
/// (even under `#![no_implicit_prelude]`); `#[payload(crate = "...")]` overrides it. A single
/// identifier names a crate (`extern crate`), a longer path a module (`use`).
pub(crate) fn crate_binding(path: Option<&syn::Path>) -> TokenStream {
    match path {
        None => quote!(
            extern crate tandem as _tandem;
        ),
        Some(path) => match path.get_ident() {
            Some(ident) if path.leading_colon.is_none() => {
                quote!(extern crate #ident as _tandem;)
            }
            _ => quote!(use #path as _tandem;),
        },
    }
}
