//! The expansion of a valid `#[derive(Transitions)]` input.
//!
//! Each transition's payload types are named once, in an impl of
//! `__private::TransitionIo<KIND>` whose associated types carry the `Payload` bound, spanned
//! at the type the user wrote; every other use goes through that impl. A type that is not a
//! `Payload` is therefore reported once, at the type, and the setup type likewise at
//! `type Setup` of the `Transitions` impl.

use super::methods::{self, CONTROLLER, DISPATCH, WORKER};
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
    quote! {
        #transitions_impl
        #worker
        #controller
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
    let io_fingerprints: Vec<TokenStream> = (0..set.transitions.len() as u32)
        .map(|kind| io(n, kind, "FINGERPRINTS"))
        .collect();
    let item = match set.transitions.iter().position(|t| t.attrs.item.is_some()) {
        Some(kind) => {
            let kind = kind as u32;
            quote!(::core::option::Option::Some(#kind))
        }
        None => quote!(::core::option::Option::None),
    };
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
        quote! {
            #[automatically_derived]
            impl #rt::__private::TransitionIo<#kind> for #enum_ident {
                #input
                #output
            }
            #borrowed
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
        impl #rt::Transitions for #enum_ident {
            #setup
            const NAMES: &'static [&'static str] = &[#(#names),*];
            const REPLAY: &'static [::core::primitive::bool] = &[#(#replays),*];
            const ITEM: ::core::option::Option<::core::primitive::u32> = #item;
            const END: &'static [::core::primitive::bool] = &[#(#ends),*];
            const IO_FINGERPRINTS: &'static [[::core::primitive::u64; 2]] = &[#(#io_fingerprints),*];
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

/// The variant's doc comments, then `generated` as a paragraph of its own.
fn docs(t: &Transition<'_>, generated: &str) -> TokenStream {
    let user = &t.docs;
    let separator = (!user.is_empty()).then(|| quote!(#[doc = ""]));
    quote!(#(#user)* #separator #[doc = #generated])
}

/// One required method per transition, for the worker trait.
pub(crate) fn worker_methods(n: &Names<'_>, transitions: &[Transition<'_>]) -> Vec<TokenStream> {
    let rt = &n.rt;
    transitions
        .iter()
        .map(|t| {
            let method = &t.method;
            let output = t.attrs.output.clone().unwrap_or_else(unit);
            let docs = docs(
                t,
                &format!(
                    "Runs the `{}` transition: `context` has its id and sets its keep flag.",
                    t.name
                ),
            );
            let input = match (t.borrowed_element(), &t.attrs.input) {
                (Some(element), _) => Some(quote!(input: #rt::TrustedSlice<'_, #element>,)),
                (None, input) => input.as_ref().map(|input| quote!(input: #input,)),
            };
            quote! {
                #docs
                fn #method(
                    &mut self,
                    context: &mut #rt::Context,
                    #input
                ) -> ::core::result::Result<#output, #rt::WorkerError>;
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
            let input = match (t.borrowed_element(), &t.attrs.input) {
                (Some(element), _) => Some(quote!(input: &[#element],)),
                (None, input) => input.as_ref().map(|input| quote!(input: &#input,)),
            };
            quote! {
                #docs
                pub fn #method(
                    &mut self,
                    id: ::core::primitive::u64,
                    #input
                ) -> ::core::result::Result<#rt::Response<#output>, #rt::ChannelError>
            }
        })
        .collect()
}

fn worker_trait(n: &Names<'_>, set: &TransitionSet<'_>) -> TokenStream {
    let Names {
        rt,
        enum_ident,
        vis,
        worker,
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
                __tandem_kind: ::core::primitive::u32,
                __tandem_request: &mut #rt::TransitionRequest<'_>,
            ) -> ::core::result::Result<(), #rt::WorkerError> {
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
            inner: #rt::TypedController<#enum_ident>,
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
