//! `#[derive(Transitions)]`: parse → validate → expand.
//!
//! From a fieldless enum it generates an impl of `Transitions`, a `<Enum>Worker` trait with
//! one method per transition plus the dispatch that serves it, and a `<Enum>Controller`
//! with one method per transition.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, Ident, LitStr, Path, Type};

use crate::internals::attr::path_to_string;
use crate::internals::ctxt::Ctxt;

/// One variant, validated.
#[derive(Clone)]
struct Transition {
    variant: Ident,
    method: Ident,
    name: String,
    input: Option<Type>,
    output: Option<Type>,
    replay: bool,
}

/// The container attributes.
#[derive(Default)]
struct ContainerAttrs {
    setup: Option<Type>,
    krate: Option<Path>,
}

pub(crate) fn expand(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let attrs = parse_container(&cx, &input.attrs);
    let transitions = parse_variants(&cx, input);
    match cx.check() {
        Ok(()) => generate(input, &attrs, &transitions),
        Err(errors) => {
            let errors = errors.iter().map(syn::Error::to_compile_error);
            let fallback = fallback(input, &attrs, &transitions);
            quote!(#(#errors)* #fallback)
        }
    }
}

fn parse_container(cx: &Ctxt, attrs: &[Attribute]) -> ContainerAttrs {
    let mut parsed = ContainerAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("transitions")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("setup") {
                if parsed.setup.is_some() {
                    return Err(meta.error("duplicate `setup` key"));
                }
                parsed.setup = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("crate") {
                if parsed.krate.is_some() {
                    return Err(meta.error("duplicate `crate` key"));
                }
                let path: LitStr = meta.value()?.parse()?;
                parsed.krate = Some(path.parse()?);
            } else {
                return Err(meta.error(format!(
                    "unknown key `{}` in `#[transitions(...)]`: expected `setup` or `crate`",
                    path_to_string(&meta.path)
                )));
            }
            Ok(())
        });
        if let Err(error) = result {
            cx.syn_error(error);
        }
    }
    for attr in attrs.iter().filter(|a| a.path().is_ident("transition")) {
        cx.error_spanned_by(
            attr,
            "`#[transition(...)]` belongs on a variant; on the enum use `#[transitions(...)]`",
        );
    }
    parsed
}

fn parse_variants(cx: &Ctxt, input: &DeriveInput) -> Vec<Transition> {
    let data = match &input.data {
        Data::Enum(data) => data,
        Data::Struct(data) => {
            cx.error_spanned_by(data.struct_token, "`Transitions` can only be derived for an enum with one fieldless variant per transition");
            return Vec::new();
        }
        Data::Union(data) => {
            cx.error_spanned_by(data.union_token, "`Transitions` can only be derived for an enum with one fieldless variant per transition");
            return Vec::new();
        }
    };
    if !input.generics.params.is_empty() {
        cx.error_spanned_by(&input.generics, "a transitions enum cannot be generic: its payload types must be concrete so both processes agree on them");
    }
    if data.variants.is_empty() {
        cx.error_spanned_by(
            &input.ident,
            "a transitions enum needs at least one variant, one per transition",
        );
    }
    let mut transitions: Vec<Transition> = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            cx.error_spanned_by(
                &variant.fields,
                format!(
                    "transition `{}` cannot carry fields: declare its payloads with `#[transition(input = T, output = U)]`",
                    variant.ident
                ),
            );
        }
        if let Some((_, discriminant)) = &variant.discriminant {
            cx.error_spanned_by(discriminant, "explicit discriminants are not allowed: a transition's kind is its position in the enum");
        }
        let name = snake_case(&variant.ident.to_string());
        if let Some(reason) = reserved_method(&name) {
            cx.error_spanned_by(
                &variant.ident,
                format!(
                    "transition `{}` would become the method `{name}`, which {reason}: rename the variant",
                    variant.ident
                ),
            );
        }
        let mut transition = Transition {
            variant: variant.ident.clone(),
            method: method_ident(&name, &variant.ident),
            name,
            input: None,
            output: None,
            replay: false,
        };
        for attr in variant
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("transition"))
        {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("input") {
                    if transition.input.is_some() {
                        return Err(meta.error("duplicate `input` key"));
                    }
                    transition.input = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("output") {
                    if transition.output.is_some() {
                        return Err(meta.error("duplicate `output` key"));
                    }
                    transition.output = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("replay") {
                    if transition.replay {
                        return Err(meta.error("duplicate `replay` key"));
                    }
                    transition.replay = true;
                } else {
                    return Err(meta.error(format!(
                        "unknown key `{}` in `#[transition(...)]`: expected `input`, `output` or `replay`",
                        path_to_string(&meta.path)
                    )));
                }
                Ok(())
            });
            if let Err(error) = result {
                cx.syn_error(error);
            }
        }
        if let Some(previous) = transitions.iter().find(|t| t.name == transition.name) {
            cx.error_spanned_by(
                &variant.ident,
                format!(
                    "duplicate transition name: `{}` and `{}` both become the method `{}`",
                    previous.variant, variant.ident, transition.name
                ),
            );
        }
        transitions.push(transition);
    }
    transitions
}

/// Why `name` cannot be a transition's method, if it cannot.
fn reserved_method(name: &str) -> Option<&'static str> {
    match name {
        "serve" | "serve_from_env" => Some("the generated worker trait already provides"),
        "spawn" | "shutdown" => Some("the generated controller already has"),
        "self" | "super" | "crate" => Some("is a reserved word even as a raw identifier"),
        _ => None,
    }
}

/// The method named `name` at the variant's span; a keyword (`Type` → `type`) becomes a
/// raw identifier (`r#type`).
fn method_ident(name: &str, variant: &Ident) -> Ident {
    match name {
        "self" | "super" | "crate" => Ident::new("__tandem_reserved", variant.span()),
        // `gen` is reserved from edition 2024 on, which `syn` does not know about.
        "gen" => Ident::new_raw(name, variant.span()),
        _ => match syn::parse_str::<Ident>(name) {
            Ok(_) => Ident::new(name, variant.span()),
            Err(_) => Ident::new_raw(name, variant.span()),
        },
    }
}

/// `BeginLumi` → `begin_lumi`, `HTTPRequest` → `http_request`.
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let previous_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let previous_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && !out.ends_with('_') && (previous_lower || (previous_upper && next_lower)) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The runtime's path from items outside the `const _` block.
fn runtime_path(krate: Option<&Path>) -> TokenStream {
    match krate {
        None => quote!(::tandem),
        Some(path) => match path.get_ident() {
            Some(ident) if path.leading_colon.is_none() => quote!(::#ident),
            _ => quote!(#path),
        },
    }
}

fn unit() -> Type {
    syn::parse_quote!(())
}

fn generate(
    input: &DeriveInput,
    attrs: &ContainerAttrs,
    transitions: &[Transition],
) -> TokenStream {
    let rt = runtime_path(attrs.krate.as_ref());
    let enum_name = &input.ident;
    let vis = &input.vis;
    let worker_trait = format_ident!("{}Worker", enum_name);
    let controller = format_ident!("{}Controller", enum_name);
    let setup = attrs.setup.clone().unwrap_or_else(unit);
    let result = quote!(::core::result::Result);
    let u64 = quote!(::core::primitive::u64);
    let u32 = quote!(::core::primitive::u32);
    let base_name: String = snake_case(&enum_name.to_string())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(32)
        .collect();
    let base_name = if base_name.is_empty() {
        "transitions".to_owned()
    } else {
        base_name
    };

    let names: Vec<&str> = transitions.iter().map(|t| t.name.as_str()).collect();
    let replays: Vec<bool> = transitions.iter().map(|t| t.replay).collect();
    let count = transitions.len() as u64;
    let variants: Vec<&Ident> = transitions.iter().map(|t| &t.variant).collect();
    let kinds: Vec<u32> = (0..transitions.len() as u32).collect();
    let fingerprint_steps = transitions.iter().map(|t| {
        let name = &t.name;
        let input = t.input.clone().unwrap_or_else(unit);
        let output = t.output.clone().unwrap_or_else(unit);
        let replay = t.replay as u64;
        quote! {
            .str(#name)
            .u64(<#input as #rt::Payload>::FINGERPRINT)
            .u64(<#output as #rt::Payload>::FINGERPRINT)
            .u64(#replay)
        }
    });

    let worker_methods = worker_method_signatures(&rt, transitions);

    let dispatch_arms = transitions.iter().enumerate().map(|(kind, t)| {
        let kind = kind as u32;
        let method = &t.method;
        let name = &t.name;
        let input = t.input.clone().unwrap_or_else(unit);
        // Spanned at the payload types, so a type that is not a `Payload` is reported there.
        let read_input = quote_spanned!(input.span()=> #rt::__private::read_input::<#input>);
        let output = t.output.clone().unwrap_or_else(unit);
        let write_output = quote_spanned!(output.span()=> #rt::__private::write_output::<#output>);
        let call = if t.input.is_some() {
            quote!(Self::#method(self, &mut __tandem_context, __tandem_input)?)
        } else {
            quote!({
                let () = __tandem_input;
                Self::#method(self, &mut __tandem_context)?
            })
        };
        quote! {
            #kind => {
                let __tandem_input: #input = #read_input(__tandem_request, #name)?;
                let mut __tandem_context = #rt::__private::context(__tandem_request, #name);
                let __tandem_output = #call;
                #rt::__private::finish(__tandem_request, &__tandem_context);
                #write_output(__tandem_request, &__tandem_output)
            }
        }
    });

    let controller_methods = controller_methods(&rt, transitions, |t| {
        let variant = &t.variant;
        let output = t.output.clone().unwrap_or_else(unit);
        match &t.input {
            Some(input) => {
                quote!(self.inner.call::<#input, #output>(#enum_name::#variant, id, input))
            }
            None => quote!(self.inner.call::<(), #output>(#enum_name::#variant, id, &())),
        }
    });

    let trait_doc = format!(
        "The worker side of [`{enum_name}`]: one method per transition. Generated by `#[derive(Transitions)]`."
    );
    let controller_doc = format!(
        "The controller side of [`{enum_name}`]: one method per transition, on top of a `TypedController`. Generated by `#[derive(Transitions)]`."
    );

    quote! {
        #[automatically_derived]
        impl #rt::Transitions for #enum_name {
            type Setup = #setup;
            const NAMES: &'static [&'static str] = &[#(#names),*];
            const REPLAY: &'static [bool] = &[#(#replays),*];
            const FINGERPRINT: #u64 = #rt::__private::Fingerprint::new("transitions")
                .str(::core::stringify!(#enum_name))
                .u64(#count)
                #(#fingerprint_steps)*
                .str("setup")
                .u64(<#setup as #rt::Payload>::FINGERPRINT)
                .finish();
            const BASE_NAME: &'static str = #base_name;
            fn kind(&self) -> #u32 {
                match self {
                    #(#enum_name::#variants => #kinds,)*
                }
            }
        }

        #[doc = #trait_doc]
        #vis trait #worker_trait: ::core::marker::Sized {
            #(#worker_methods)*

            /// Decodes the setup payload, builds the worker with `make`, then serves
            /// transitions on `channel` until the controller stops it.
            ///
            /// # Errors
            /// `ChannelError::ControllerGone` if the controller disappears; setup errors.
            fn serve(
                channel: &mut #rt::WorkerChannel,
                make: impl ::core::ops::FnOnce(#setup) -> #result<Self, #rt::WorkerError>,
            ) -> #result<(), #rt::ChannelError> {
                #rt::__private::serve::<#enum_name, Self>(channel, make, Self::__tandem_dispatch)
            }

            /// Serves as a worker if this process was spawned as one (`Ok(true)` once the
            /// controller stopped it), or returns `Ok(false)` at once: the one-binary pattern.
            ///
            /// # Errors
            /// As [`serve`](Self::serve); `ChannelError::ProtocolMismatch` if the controller
            /// was built from other definitions.
            fn serve_from_env(
                make: impl ::core::ops::FnOnce(#setup) -> #result<Self, #rt::WorkerError>,
            ) -> #result<bool, #rt::ChannelError> {
                #rt::__private::serve_from_env::<#enum_name, Self>(make, Self::__tandem_dispatch)
            }

            #[doc(hidden)]
            fn __tandem_dispatch(
                &mut self,
                __tandem_kind: #u32,
                __tandem_request: &mut #rt::TransitionRequest<'_>,
            ) -> #result<(), #rt::WorkerError> {
                match __tandem_kind {
                    #(#dispatch_arms)*
                    __tandem_other => #result::Err(#rt::__private::unknown_kind(__tandem_other)),
                }
            }
        }

        #[doc = #controller_doc]
        #vis struct #controller {
            inner: #rt::TypedController<#enum_name>,
        }

        impl #controller {
            /// Spawns `command` as the worker of channel `id`, sends `setup` during the
            /// handshake and checks both sides were built from the same definitions.
            ///
            /// # Errors
            /// `ChannelError::ProtocolMismatch` for a worker built from other definitions,
            /// and every error of `Controller::spawn`.
            pub fn spawn(
                command: ::std::process::Command,
                id: #u32,
                options: #rt::Options,
                setup: &#setup,
            ) -> #result<Self, #rt::ChannelError> {
                #result::Ok(#controller {
                    inner: #rt::TypedController::spawn(command, id, options, setup)?,
                })
            }

            /// Stops the worker and waits for it (see `TypedController::shutdown`, which
            /// takes the controller by value and so cannot be reached through `Deref`).
            pub fn shutdown(self) -> ::core::option::Option<#rt::ExitReason> {
                self.inner.shutdown()
            }

            #(#controller_methods)*
        }

        impl ::core::ops::Deref for #controller {
            type Target = #rt::TypedController<#enum_name>;
            fn deref(&self) -> &Self::Target {
                &self.inner
            }
        }

        impl ::core::ops::DerefMut for #controller {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.inner
            }
        }

        impl ::core::fmt::Debug for #controller {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Debug::fmt(&self.inner, f)
            }
        }
    }
}

/// One required method per transition, for the worker trait.
fn worker_method_signatures(rt: &TokenStream, transitions: &[Transition]) -> Vec<TokenStream> {
    let result = quote!(::core::result::Result);
    transitions
        .iter()
        .map(|t| {
            let method = &t.method;
            let output = t.output.clone().unwrap_or_else(unit);
            let doc = format!("Runs the `{}` transition.", t.name);
            match &t.input {
                Some(input) => quote! {
                    #[doc = #doc]
                    fn #method(&mut self, context: &mut #rt::Context, input: #input) -> #result<#output, #rt::WorkerError>;
                },
                None => quote! {
                    #[doc = #doc]
                    fn #method(&mut self, context: &mut #rt::Context) -> #result<#output, #rt::WorkerError>;
                },
            }
        })
        .collect()
}

/// One method per transition for the controller, with the body `body` builds (it may use
/// `id` and, for transitions with an input, `input`).
fn controller_methods(
    rt: &TokenStream,
    transitions: &[Transition],
    body: impl Fn(&Transition) -> TokenStream,
) -> Vec<TokenStream> {
    let result = quote!(::core::result::Result);
    let u64 = quote!(::core::primitive::u64);
    transitions
        .iter()
        .map(|t| {
            let method = &t.method;
            let output = t.output.clone().unwrap_or_else(unit);
            let doc = format!(
                "Runs the `{}` transition on the worker and returns its output with the keep flag.\n\n# Errors\nAny `ChannelError`: time-out, worker failure, crash or death, undecodable output.",
                t.name
            );
            let body = body(t);
            let input = t.input.as_ref().map(|input| quote!(input: &#input,));
            quote! {
                #[doc = #doc]
                pub fn #method(&mut self, id: #u64, #input) -> #result<#rt::Response<#output>, #rt::ChannelError> {
                    #body
                }
            }
        })
        .collect()
}

/// What the user's code refers to, emitted beside the errors (after thiserror's
/// `fallback.rs`): the worker trait and the controller with the transitions that parsed,
/// so that the errors above are the only ones shown.
fn fallback(
    input: &DeriveInput,
    attrs: &ContainerAttrs,
    transitions: &[Transition],
) -> TokenStream {
    let rt = runtime_path(attrs.krate.as_ref());
    let vis = &input.vis;
    let worker_trait = format_ident!("{}Worker", input.ident);
    let controller = format_ident!("{}Controller", input.ident);
    let mut unique: Vec<&Transition> = Vec::new();
    for transition in transitions {
        if unique.iter().all(|t| t.name != transition.name) {
            unique.push(transition);
        }
    }
    let unique: Vec<Transition> = unique.into_iter().cloned().collect();
    let worker_methods = worker_method_signatures(&rt, &unique);
    let controller_methods = controller_methods(&rt, &unique, |_| {
        quote!(::core::unimplemented!(
            "`#[derive(Transitions)]` failed: see its errors"
        ))
    });
    quote! {
        #[allow(missing_docs)]
        #vis trait #worker_trait {
            #(#worker_methods)*
        }

        #[allow(missing_docs)]
        #vis struct #controller;

        #[allow(missing_docs, unused_variables)]
        impl #controller {
            #(#controller_methods)*
        }
    }
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_case_splits_words_and_acronyms() {
        assert_eq!(snake_case("BeginLumi"), "begin_lumi");
        assert_eq!(snake_case("Event"), "event");
        assert_eq!(snake_case("HTTPRequest"), "http_request");
        assert_eq!(snake_case("Begin_Run"), "begin_run");
        assert_eq!(snake_case("Step2Done"), "step2_done");
    }
}
