//! The generated `<Enum>Pool`: a `Pool` of the enum with one method per role, each with the
//! payload types the enum declares, so that a wrong type is a compile error at the call:
//! - a `replay` transition `begin_lumi(id, &input)` records the block's state;
//! - the `item` transition `event(items, on_result)` runs the items, results in order;
//! - an `end` transition `end_lumi(id, &input)` returns every participant's `EndOutput`.
//!
//! Other transitions have no pool method (a pool cannot say which worker should run them).
//! The fixed methods are in `methods::POOL`.

use super::methods::{self, POOL};
use super::Names;
use crate::internals::ast::{Transition, TransitionSet};
use proc_macro2::TokenStream;
use quote::quote;
use syn::Type;

fn unit() -> Type {
    syn::parse_quote!(())
}

/// Whether the transitions have an `item` transition, and so a pool.
pub(crate) fn has_pool(transitions: &[Transition<'_>]) -> bool {
    transitions.iter().any(|t| t.attrs.item.is_some())
}

/// The signature of each transition's pool method, without a body, with its kind and
/// transition: replay, item and end transitions only.
pub(crate) fn signatures<'t>(
    n: &Names<'_>,
    transitions: &'t [Transition<'t>],
) -> Vec<(u32, &'t Transition<'t>, TokenStream)> {
    let rt = &n.rt;
    let u64 = quote!(::core::primitive::u64);
    transitions
        .iter()
        .enumerate()
        .filter_map(|(kind, t)| {
            let method = &t.method;
            let name = &t.name;
            let input = t.attrs.input.as_ref();
            let output = t.attrs.output.clone().unwrap_or_else(unit);
            let input_param = input.map(|input| quote!(input: &#input,));
            let signature = if t.attrs.replay.is_some() {
                let docs = docs(
                    t,
                    &format!(
                    "Records the input of the `{name}` transition: every worker runs it before \
                     its next item (and a replaced worker gets it back), until a later \
                     `{name}` or a begin of an outer block replaces it."
                ),
                );
                quote! {
                    #docs
                    pub fn #method(&mut self, id: #u64, #input_param)
                }
            } else if t.attrs.item.is_some() {
                let input = input.cloned().unwrap_or_else(unit);
                let docs = docs(
                    t,
                    &format!(
                        "Runs the `{name}` transition on every item of `items` (`(id, input)` \
                     pairs), on whichever worker is free, and hands each result to \
                     `on_result` in submission order; returns when every item is finished. \
                     An item that failed on every attempt is an `Err` in its place, and \
                     every failed attempt a `PoolEvent`.\n\n\
                     # Errors\n\
                     `PoolError::NoWorkers` when every worker was retired, \
                     `PoolError::Interrupted` after `PoolStopper::stop`."
                    ),
                );
                quote! {
                    #docs
                    pub fn #method(
                        &mut self,
                        items: impl ::core::iter::IntoIterator<Item = (#u64, #input)>,
                        on_result: impl ::core::ops::FnMut(
                            ::core::result::Result<#rt::__private::ItemResult<#output>, #rt::__private::PoolError>,
                        ),
                    ) -> ::core::result::Result<(), #rt::__private::PoolError>
                }
            } else if t.attrs.end.is_some() {
                let docs = docs(
                    t,
                    &format!(
                    "Ends a block: runs the `{name}` transition on every worker that took part \
                     in it and returns each one's output, by worker, with how many processes \
                     served the block (a worker's own totals cover its last process only)."
                ),
                );
                quote! {
                    #docs
                    pub fn #method(
                        &mut self,
                        id: #u64,
                        #input_param
                    ) -> ::std::vec::Vec<#rt::__private::EndOutput<#output>>
                }
            } else {
                return None;
            };
            Some((kind as u32, t, signature))
        })
        .collect()
}

/// The variant's doc comments, then `generated` as a paragraph of its own.
fn docs(t: &Transition<'_>, generated: &str) -> TokenStream {
    let user = &t.docs;
    let separator = (!user.is_empty()).then(|| quote!(#[doc = ""]));
    quote!(#(#user)* #separator #[doc = #generated])
}

/// The `ItemTransition` impl and the pool, for transitions with an `item` transition.
pub(crate) fn expand(n: &Names<'_>, set: &TransitionSet<'_>) -> TokenStream {
    let Some(item_kind) = set.transitions.iter().position(|t| t.attrs.item.is_some()) else {
        return TokenStream::new();
    };
    let Names {
        rt,
        enum_ident,
        vis,
        pool,
        ..
    } = n;
    let item_kind = item_kind as u32;
    let item_io = quote!(<#enum_ident as #rt::__private::TransitionIo<#item_kind>>);
    let fixed = POOL.iter().map(|method| {
        let signature = (method.signature)(n, &methods::ident(method));
        let body = (method.body)(n);
        quote!(#signature #body)
    });
    let transition_methods =
        signatures(n, &set.transitions)
            .into_iter()
            .map(|(kind, t, signature)| {
                let io = quote!(<#enum_ident as #rt::__private::TransitionIo<#kind>>);
                let input = match &t.attrs.input {
                    Some(_) => quote!(input),
                    None => quote!(&()),
                };
                let body = if t.attrs.replay.is_some() {
                    quote!(#io::pool_begin(&mut self.inner, id, #input))
                } else if t.attrs.item.is_some() {
                    quote!(self.inner.run(items, on_result))
                } else {
                    quote!(#io::pool_end(&mut self.inner, id, #input))
                };
                quote!(#signature { #body })
            });
    let doc = format!(
        "A pool of worker processes of [`{enum_ident}`]: one method per `replay`, `item` and \
         `end` transition, with their declared payload types, on top of a `Pool` (see its \
         documentation for blocks, retries, restarts and recycling). Generated by \
         `#[derive(Transitions)]`."
    );
    quote! {
        #[automatically_derived]
        impl #rt::__private::ItemTransition for #enum_ident {
            type Input = #item_io::Input;
            type Output = #item_io::Output;
            const KIND: ::core::primitive::u32 = #item_kind;
        }

        #[doc = #doc]
        #vis struct #pool {
            inner: #rt::__private::Pool<#enum_ident>,
        }

        impl #pool {
            #(#fixed)*

            #(#transition_methods)*
        }

        impl ::core::fmt::Debug for #pool {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Debug::fmt(&self.inner, f)
            }
        }
    }
}

/// The pool's stub beside the errors of an input with mistakes (see `fallback`).
pub(crate) fn fallback(
    n: &Names<'_>,
    transitions: &[Transition<'_>],
    stub: &TokenStream,
) -> TokenStream {
    if !has_pool(transitions) {
        return TokenStream::new();
    }
    let Names {
        rt,
        enum_ident,
        vis,
        pool,
        ..
    } = n;
    let fixed = POOL.iter().map(|method| {
        let signature = (method.signature)(n, &methods::ident(method));
        quote!(#signature #stub)
    });
    let transition_methods = signatures(n, transitions)
        .into_iter()
        .map(|(_, _, signature)| quote!(#signature #stub));
    quote! {
        #[automatically_derived]
        impl #rt::__private::ItemTransition for #enum_ident {
            type Input = ();
            type Output = ();
            const KIND: ::core::primitive::u32 = 0;
        }

        #[allow(missing_docs)]
        #vis struct #pool {}

        #[allow(missing_docs, unused_variables)]
        impl #pool {
            #(#fixed)*
            #(#transition_methods)*
        }
    }
}
