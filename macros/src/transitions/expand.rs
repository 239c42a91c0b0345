//! The expansion of a valid `#[derive(Transitions)]` input.
//!
//! Each transition's payload types are named once, in an impl of
//! `__private::TransitionIo<KIND>` whose associated types carry the `Payload` bound, spanned
//! at the type the user wrote; every other use goes through that impl. A type that is not a
//! `Payload` is therefore reported once, at the type, and the setup type likewise at
//! `type Setup` of the `Transitions` impl.

use super::methods::{self, docs, CONTROLLER, DISPATCH, WORKER};
use super::Names;
use crate::internals::ast::{Transition, TransitionSet};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Type;

pub(crate) fn expand(n: &Names<'_>, set: &TransitionSet<'_>) -> TokenStream {
    let transitions_impl = transitions_impl(n, set);
    let worker = worker_trait(n, set);
    let controller = controller(n, set);
    let pool = super::pool::expand(n, set);
    let async_calls = super::asynch::expand(n, set);
    quote! {
        #transitions_impl
        #worker
        #controller
        #pool
        #async_calls
    }
}

fn unit() -> Type {
    syn::parse_quote!(())
}

/// `<Enum as TransitionIo<KIND>>::item`.
fn io(n: &Names<'_>, kind: u32, which: &str) -> TokenStream {
    let Names { rt, enum_ident, .. } = n;
    let which = format_ident!("{}", which);
    quote!(<#enum_ident as #rt::__private::TransitionIo<#kind>>::#which)
}

fn transitions_impl(n: &Names<'_>, set: &TransitionSet<'_>) -> TokenStream {
    let Names {
        rt,
        enum_ident,
        setup,
        ..
    } = n;
    let u64 = quote!(::core::primitive::u64);
    let base_name: String = crate::internals::ast::snake_case(&enum_ident.to_string())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(32)
        .collect();
    let base_name = if base_name.is_empty() {
        "transitions".to_owned()
    } else {
        base_name
    };
    let names = set.transitions.iter().map(|t| &t.name);
    let replays = set.transitions.iter().map(|t| t.attrs.replay.is_some());
    let ends = set.transitions.iter().map(|t| t.attrs.end.is_some());
    let count = set.transitions.len() as u64;
    let variants: Vec<_> = set.transitions.iter().map(|t| t.ident).collect();
    let kinds: Vec<u32> = (0..set.transitions.len() as u32).collect();
    let io_impls = set.transitions.iter().zip(&kinds).map(|(t, kind)| {
        // Spanned at the types, so that a missing `Payload` impl is reported there.
        let input = t.attrs.input.clone().unwrap_or_else(unit);
        let output = t.attrs.output.clone().unwrap_or_else(unit);
        let input = quote_spanned!(input.span()=> type Input = #input;);
        let output = quote_spanned!(output.span()=> type Output = #output;);
        let borrowed = t.borrowed_element().map(|element| {
            let element = quote_spanned!(element.span()=> type Element = #element;);
            quote! {
                #[automatically_derived]
                impl #rt::__private::BorrowedIo<#kind> for #enum_ident {
                    #element
                }
            }
        });
        let reused = t.attrs.reuse.is_some().then(|| {
            let input = match (t.reuses_input(), &t.attrs.input) {
                (true, Some(input)) => quote_spanned!(input.span()=> type Input = #input;),
                _ => quote!(
                    type Input = ();
                ),
            };
            let output = match (t.reuses_output(), &t.attrs.output) {
                (true, Some(output)) => quote_spanned!(output.span()=> type Output = #output;),
                _ => quote!(
                    type Output = ();
                ),
            };
            quote! {
                #[automatically_derived]
                impl #rt::__private::ReuseIo<#kind> for #enum_ident {
                    #input
                    #output
                }
            }
        });
        quote! {
            #[automatically_derived]
            impl #rt::__private::TransitionIo<#kind> for #enum_ident {
                #input
                #output
            }
            #borrowed
            #reused
        }
    });
    let fingerprint_steps = set.transitions.iter().zip(&kinds).map(|(t, &kind)| {
        let name = &t.name;
        let fingerprints = io(n, kind, "FINGERPRINTS");
        let replay = t.attrs.replay.is_some() as u64;
        quote! {
            .str(#name)
            .u64(#fingerprints[0])
            .u64(#fingerprints[1])
            .u64(#replay)
        }
    });
    let setup = quote_spanned!(setup.span()=> type Setup = #setup;);
    quote! {
        #[automatically_derived]
        impl #rt::__private::Transitions for #enum_ident {
            #setup
            const NAMES: &'static [&'static str] = &[#(#names),*];
            const REPLAY: &'static [::core::primitive::bool] = &[#(#replays),*];
            const END: &'static [::core::primitive::bool] = &[#(#ends),*];
            const FINGERPRINT: #u64 = #rt::__private::Fingerprint::new("transitions")
                .str(::core::stringify!(#enum_ident))
                .u64(#count)
                #(#fingerprint_steps)*
                .str("setup")
                .u64(#rt::__private::setup_fingerprint::<Self>())
                .finish();
            const BASE_NAME: &'static str = #base_name;
            fn kind(&self) -> ::core::primitive::u32 {
                match self {
                    #(#enum_ident::#variants => #kinds,)*
                }
            }
        }

        #(#io_impls)*

        // Names every variant, so that an enum used only on the worker side, where no
        // variant is ever constructed, does not warn.
        #[automatically_derived]
        impl #rt::__private::Variants for #enum_ident {
            const ALL: &'static [Self] = &[#(#enum_ident::#variants),*];
        }
    }
}

/// The type of what the `reuse` transitions keep between calls, owned by `serve`: one
/// `(Option<input>, Option<output>)` pair per `reuse` transition (a side that is not kept is
/// `()`), nested as `(first, (second, ()))`, so that any number of them has a `Default`
/// whatever the payload types (whose own `Default` is checked once, at `ReuseIo`).
pub(crate) fn kept_type(n: &Names<'_>, set: &TransitionSet<'_>) -> TokenStream {
    let Names { rt, enum_ident, .. } = n;
    let pairs: Vec<TokenStream> = set
        .transitions
        .iter()
        .enumerate()
        .filter(|(_, t)| t.attrs.reuse.is_some())
        .map(|(kind, _)| {
            let kind = kind as u32;
            let io = quote!(<#enum_ident as #rt::__private::ReuseIo<#kind>>);
            quote!((
                ::core::option::Option<#io::Input>,
                ::core::option::Option<#io::Output>,
            ))
        })
        .collect();
    pairs
        .into_iter()
        .rev()
        .fold(quote!(()), |rest, pair| quote!((#pair, #rest)))
}

/// The place of the pair the transition at `kind` keeps, in `__tandem_kept` (see
/// [`kept_type`]).
fn kept_pair(set: &TransitionSet<'_>, kind: usize) -> TokenStream {
    let position = set.transitions[..kind]
        .iter()
        .filter(|t| t.attrs.reuse.is_some())
        .count();
    let second = syn::Index::from(1);
    let first = syn::Index::from(0);
    let mut place = quote!(__tandem_kept);
    for _ in 0..position {
        place = quote!(#place.#second);
    }
    quote!(#place.#first)
}

/// One required method per transition, for the worker trait.
pub(crate) fn worker_methods(n: &Names<'_>, transitions: &[Transition<'_>]) -> Vec<TokenStream> {
    let rt = &n.rt;
    transitions
        .iter()
        .map(|t| {
            let method = &t.method;
            let mut generated = format!(
                "Runs the `{}` transition: `context` has its id and sets its keep flag.",
                t.name
            );
            if t.reuses_input() {
                generated.push_str(
                    " `input` is this call's input, decoded into the value the previous call \
                     left there.",
                );
            }
            if t.reuses_output() {
                generated.push_str(
                    " `output` is the value the previous call left (`Default::default()` the \
                     first time): overwrite it with this call's output.",
                );
            }
            let docs = docs(t, &generated);
            let input = match (t.borrowed_element(), &t.attrs.input) {
                (Some(element), _) => {
                    Some(quote!(input: #rt::__private::TrustedSlice<'_, #element>,))
                }
                (None, Some(input)) if t.reuses_input() => Some(quote!(input: &mut #input,)),
                (None, input) => input.as_ref().map(|input| quote!(input: #input,)),
            };
            let (output_param, returned) = match &t.attrs.output {
                Some(output) if t.reuses_output() => (Some(quote!(output: &mut #output,)), unit()),
                _ if t.attrs.reuse.is_some() => (None, unit()),
                output => (None, output.clone().unwrap_or_else(unit)),
            };
            quote! {
                #docs
                fn #method(
                    &mut self,
                    context: &mut #rt::__private::Context,
                    #input
                    #output_param
                ) -> ::core::result::Result<#returned, #rt::__private::WorkerError>;
            }
        })
        .collect()
}

/// The signature of each transition's controller method, without a body.
pub(crate) fn controller_signatures(
    n: &Names<'_>,
    transitions: &[Transition<'_>],
) -> Vec<TokenStream> {
    let rt = &n.rt;
    transitions
        .iter()
        .map(|t| {
            let method = &t.method;
            let output = t.attrs.output.clone().unwrap_or_else(unit);
            let docs = docs(
                t,
                &format!(
                    "Runs the `{}` transition on the worker and returns its output with the \
                     keep flag. `id` identifies this call (an event number, say): the worker \
                     reads it from `Context::id`, and errors name it.\n\n\
                     # Errors\n\
                     Any `ChannelError`: time-out, worker failure, crash or death, undecodable \
                     output.",
                    t.name
                ),
            );
            let input = methods::caller_input(t);
            quote! {
                #docs
                pub fn #method(
                    &mut self,
                    id: ::core::primitive::u64,
                    #input
                ) -> ::core::result::Result<#rt::__private::Response<#output>, #rt::__private::ChannelError>
            }
        })
        .collect()
}

/// The dispatch arm of a `reuse` transition: the method works on the values kept in
/// `__tandem_kept`, and the reply is encoded from the kept output.
fn reuse_arm(n: &Names<'_>, set: &TransitionSet<'_>, t: &Transition<'_>, kind: u32) -> TokenStream {
    let Names { rt, enum_ident, .. } = n;
    let method = &t.method;
    let name = &t.name;
    let pair = kept_pair(set, kind as usize);
    let reuse = quote!(<#enum_ident as #rt::__private::ReuseIo<#kind>>);
    let output_arg = t.reuses_output().then(|| quote!(__tandem_output,));
    if t.borrowed_element().is_some() {
        let borrowed = quote!(<#enum_ident as #rt::__private::BorrowedIo<#kind>>);
        // As for `borrow` alone: the context is taken first and the keep flag handed over
        // once the reply is written and the view of the input gone.
        return quote! {
            #kind => {
                let (_, __tandem_output) = #reuse::kept(&mut #pair);
                let mut __tandem_context = #rt::__private::context(__tandem_request, #name);
                let (__tandem_input, __tandem_reply) =
                    #borrowed::read_input_slice(__tandem_request, #name)?;
                let () = Self::#method(
                    self,
                    &mut __tandem_context,
                    __tandem_input,
                    #output_arg
                )?;
                #reuse::write_output_into(__tandem_reply, __tandem_output)?;
                #rt::__private::finish(__tandem_request, &__tandem_context);
                ::core::result::Result::Ok(())
            }
        };
    }
    let input_arg = t.reuses_input().then(|| quote!(__tandem_input,));
    // Without a declared input the kept input is `()`: decoding it still checks that the
    // request carries no bytes, as for a transition without `reuse`.
    quote! {
        #kind => {
            let (__tandem_input, __tandem_output) = #reuse::kept(&mut #pair);
            #reuse::read_input_into(__tandem_request, #name, __tandem_input)?;
            let mut __tandem_context = #rt::__private::context(__tandem_request, #name);
            let () = Self::#method(self, &mut __tandem_context, #input_arg #output_arg)?;
            #rt::__private::finish(__tandem_request, &__tandem_context);
            #reuse::write_output(__tandem_request, __tandem_output)
        }
    }
}

fn worker_trait(n: &Names<'_>, set: &TransitionSet<'_>) -> TokenStream {
    let Names {
        rt,
        enum_ident,
        vis,
        worker,
        kept,
        ..
    } = n;
    let transition_methods = worker_methods(n, &set.transitions);
    let provided = WORKER.iter().map(|method| {
        let signature = (method.signature)(n, &methods::ident(method));
        let body = (method.body)(n);
        quote!(#signature #body)
    });
    let dispatch = format_ident!("{}", DISPATCH);
    let arms = set.transitions.iter().enumerate().map(|(kind, t)| {
        let kind = kind as u32;
        let method = &t.method;
        let name = &t.name;
        let read_input = io(n, kind, "read_input");
        let write_output = io(n, kind, "write_output");
        let output = io(n, kind, "Output");
        if t.attrs.reuse.is_some() {
            return reuse_arm(n, set, t, kind);
        }
        if t.borrowed_element().is_some() {
            let borrowed = {
                let Names { rt, enum_ident, .. } = n;
                quote!(<#enum_ident as #rt::__private::BorrowedIo<#kind>>)
            };
            // The input is a view into the request's buffer: the context is taken first and
            // the keep flag handed over after the reply is written, when the view is gone.
            return quote! {
                #kind => {
                    let mut __tandem_context = #rt::__private::context(__tandem_request, #name);
                    let (__tandem_input, __tandem_reply) =
                        #borrowed::read_input_slice(__tandem_request, #name)?;
                    let __tandem_output: #output =
                        Self::#method(self, &mut __tandem_context, __tandem_input)?;
                    #borrowed::write_output_into(__tandem_reply, &__tandem_output)?;
                    #rt::__private::finish(__tandem_request, &__tandem_context);
                    ::core::result::Result::Ok(())
                }
            };
        }
        let call = if t.attrs.input.is_some() {
            quote!(Self::#method(self, &mut __tandem_context, __tandem_input)?)
        } else {
            quote!({
                let () = __tandem_input;
                Self::#method(self, &mut __tandem_context)?
            })
        };
        quote! {
            #kind => {
                let __tandem_input = #read_input(__tandem_request, #name)?;
                let mut __tandem_context = #rt::__private::context(__tandem_request, #name);
                let __tandem_output: #output = #call;
                #rt::__private::finish(__tandem_request, &__tandem_context);
                #write_output(__tandem_request, &__tandem_output)
            }
        }
    });
    let doc = format!(
        "The worker side of [`{enum_ident}`]: one method per transition, and `serve` / \
         `serve_from_env` to run them. Generated by `#[derive(Transitions)]`."
    );
    quote! {
        #[doc = #doc]
        #vis trait #worker: ::core::marker::Sized {
            #(#transition_methods)*

            #(#provided)*

            #[doc(hidden)]
            fn #dispatch(
                &mut self,
                __tandem_kept: &mut #kept,
                __tandem_kind: ::core::primitive::u32,
                __tandem_request: &mut #rt::__private::TransitionRequest<'_>,
            ) -> ::core::result::Result<(), #rt::__private::WorkerError> {
                match __tandem_kind {
                    #(#arms)*
                    __tandem_other => ::core::result::Result::Err(
                        #rt::__private::unknown_kind(__tandem_other),
                    ),
                }
            }
        }
    }
}

fn controller(n: &Names<'_>, set: &TransitionSet<'_>) -> TokenStream {
    let Names {
        rt,
        enum_ident,
        vis,
        controller,
        ..
    } = n;
    let fixed = CONTROLLER.iter().map(|method| {
        let signature = (method.signature)(n, &methods::ident(method));
        let body = (method.body)(n);
        quote!(#signature #body)
    });
    let signatures = controller_signatures(n, &set.transitions);
    let transition_methods =
        set.transitions
            .iter()
            .zip(signatures)
            .enumerate()
            .map(|(kind, (t, signature))| {
                let kind = kind as u32;
                let variant = t.ident;
                let call = if t.borrowed_element().is_some() {
                    let rt = &n.rt;
                    quote!(<#enum_ident as #rt::__private::BorrowedIo<#kind>>::call_slice)
                } else {
                    io(n, kind, "call")
                };
                let input = match &t.attrs.input {
                    Some(_) => quote!(input),
                    None => quote!(&()),
                };
                quote! {
                    #signature {
                        #call(&mut self.inner, #enum_ident::#variant, id, #input)
                    }
                }
            });
    let doc = format!(
        "The controller side of [`{enum_ident}`]: one method per transition, on top of a \
         `TypedController` (reached with `typed` / `typed_mut`). Generated by \
         `#[derive(Transitions)]`."
    );
    quote! {
        #[doc = #doc]
        #vis struct #controller {
            inner: #rt::__private::TypedController<#enum_ident>,
        }

        impl #controller {
            #(#fixed)*

            #(#transition_methods)*
        }

        impl ::core::fmt::Debug for #controller {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Debug::fmt(&self.inner, f)
            }
        }
    }
}
