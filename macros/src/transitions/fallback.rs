//! What is emitted beside the `compile_error!`s of an input with mistakes (after thiserror's
//! `fallback.rs`): a stub of every item user code can name, so that the derive's own errors
//! are the only ones shown. The `Transitions` impl, the worker trait with `serve` and
//! `serve_from_env` and the transitions that parsed, the controller with every fixed method
//! and those transitions; every body is `::core::unimplemented!()`, never run since the build fails.

use super::expand::{controller_signatures, worker_methods};
use super::methods::{self, CONTROLLER, POOL, WORKER};
use super::Names;
use crate::internals::ast::{Transition, TransitionSet};
use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

pub(crate) fn fallback(input: &DeriveInput, set: Option<&TransitionSet<'_>>) -> TokenStream {
    let n = Names::from_parts(
        input,
        set.and_then(|set| set.attrs.crate_path.as_ref()),
        set.and_then(|set| set.attrs.setup.clone()),
    );
    let Names {
        rt,
        enum_ident,
        vis,
        worker,
        controller,
        ..
    } = &n;
    // Only the transitions whose methods can be declared: no keyword placeholder, no clash
    // with a fixed method, no duplicate.
    let fixed: Vec<&str> = methods::names(WORKER)
        .into_iter()
        .chain(methods::names(CONTROLLER))
        .chain(methods::names(POOL))
        .chain(super::asynch::ASYNC_CONTROLLER.iter().copied())
        .collect();
    let mut transitions: Vec<Transition<'_>> = Vec::new();
    for t in set.map_or(&[][..], |set| &set.transitions[..]) {
        let method = t.method.to_string();
        let declarable = method != "__tandem_reserved"
            && !fixed.contains(&t.name.as_str())
            && transitions.iter().all(|other| other.method != t.method);
        if declarable {
            transitions.push(Transition {
                variant: t.variant,
                ident: t.ident,
                name: t.name.clone(),
                method: t.method.clone(),
                attrs: t.attrs.clone(),
                docs: t.docs.clone(),
            });
        }
    }
    let stub =
        quote!({ ::core::unimplemented!("`#[derive(Transitions)]` failed: see its errors") });
    // A generic input cannot be named without its parameters: it gets no `Transitions` impl,
    // and the controller nothing that names it.
    let generic = !input.generics.params.is_empty();
    let transitions_impl = (!generic).then(|| {
        quote! {
            #[automatically_derived]
            impl #rt::__private::Transitions for #enum_ident {
                type Setup = ();
                const NAMES: &'static [&'static str] = &[];
                const REPLAY: &'static [::core::primitive::bool] = &[];
                const FINGERPRINT: ::core::primitive::u64 = 0;
                const BASE_NAME: &'static str = "transitions";
                fn kind(&self) -> ::core::primitive::u32 #stub
            }
        }
    });
    let worker_transitions = worker_methods(&n, &transitions);
    let provided = WORKER.iter().map(|method| {
        let signature = (method.signature)(&n, &methods::ident(method));
        quote!(#signature #stub)
    });
    let fixed = CONTROLLER
        .iter()
        .filter(|method| !generic || !method.name.starts_with("typed"))
        .map(|method| {
            let signature = (method.signature)(&n, &methods::ident(method));
            quote!(#signature #stub)
        });
    let controller_transitions = controller_signatures(&n, &transitions);
    // A generic input's pool would name it: none, as for the controller's `typed`.
    let pool = if generic {
        TokenStream::new()
    } else {
        super::pool::fallback(&n, &transitions, &stub)
    };
    let async_calls = if generic {
        TokenStream::new()
    } else {
        super::asynch::fallback(&n, &transitions)
    };
    quote! {
        #transitions_impl

        #[allow(missing_docs, unused_variables)]
        #vis trait #worker: ::core::marker::Sized {
            #(#worker_transitions)*
            #(#provided)*
        }

        #[allow(missing_docs)]
        #vis struct #controller {}

        #[allow(missing_docs, unused_variables)]
        impl #controller {
            #(#fixed)*
            #(#controller_transitions #stub)*
        }

        impl ::core::fmt::Debug for #controller {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result #stub
        }

        #pool

        #async_calls
    }
}
