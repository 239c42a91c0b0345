//! `#[derive(Transitions)]`: parse (`internals::ast`, `internals::attr`) → check
//! (`internals::check`) → expand (`expand`), or, when the input has mistakes, their
//! `compile_error!`s beside a stub of every generated item (`fallback`).
//!
//! From a fieldless enum it generates an impl of `Transitions`, a `<Enum>Worker` trait with
//! one method per transition plus the dispatch that serves it, and a `<Enum>Controller`
//! with one method per transition beside the fixed methods listed in `methods`. With an
//! `item` transition, also an impl of `ItemTransition` and an `<Enum>Pool` with one method
//! per replay, item and end transition beside its fixed methods (`pool`).

mod pool;

mod asynch;
mod expand;
mod fallback;
mod methods;

use crate::internals::ast::TransitionSet;
use crate::internals::check::{self, Reserved};
use crate::internals::ctxt::Ctxt;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{DeriveInput, Ident, Path, Type};

pub(crate) fn expand(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let set = TransitionSet::from_ast(&cx, input);
    if let Some(set) = &set {
        check::check_transitions(
            &cx,
            set,
            &Reserved {
                worker: &[methods::names(methods::WORKER), vec![methods::DISPATCH]].concat(),
                controller: &methods::names(methods::CONTROLLER),
                pool: &methods::names(methods::POOL),
                async_controller: asynch::ASYNC_CONTROLLER,
            },
        );
    }
    match (cx.check(), set) {
        (Ok(()), Some(set)) => expand::expand(&Names::new(input, &set), &set),
        (result, set) => {
            let errors = result.err().unwrap_or_default();
            let errors = errors.iter().map(syn::Error::to_compile_error);
            let fallback = fallback::fallback(input, set.as_ref());
            quote!(#(#errors)* #fallback)
        }
    }
}

/// What every piece of the expansion refers to.
pub(crate) struct Names<'a> {
    /// The runtime's path from items outside a `const _` block: `::tandem` by default.
    pub(crate) rt: TokenStream,
    pub(crate) enum_ident: &'a Ident,
    pub(crate) vis: &'a syn::Visibility,
    pub(crate) worker: Ident,
    pub(crate) controller: Ident,
    pub(crate) pool: Ident,
    pub(crate) async_calls: Ident,
    /// The declared setup type, `()` when the key is absent.
    pub(crate) setup: Type,
    /// The type of the values the `reuse` transitions keep between calls, owned by `serve`
    /// (see `expand::kept_type`); `()` in the fallback.
    pub(crate) kept: TokenStream,
}

impl<'a> Names<'a> {
    fn new(input: &'a DeriveInput, set: &TransitionSet<'_>) -> Self {
        let mut names = Names::from_parts(
            input,
            set.attrs.crate_path.as_ref(),
            set.attrs.setup.clone(),
        );
        names.kept = expand::kept_type(&names, set);
        names
    }

    fn from_parts(input: &'a DeriveInput, crate_path: Option<&Path>, setup: Option<Type>) -> Self {
        Names {
            rt: runtime_path(crate_path),
            enum_ident: &input.ident,
            vis: &input.vis,
            worker: format_ident!("{}Worker", input.ident),
            controller: format_ident!("{}Controller", input.ident),
            pool: format_ident!("{}Pool", input.ident),
            async_calls: format_ident!("{}AsyncCalls", input.ident),
            setup: setup.unwrap_or_else(|| syn::parse_quote!(())),
            kept: quote!(()),
        }
    }
}

/// The runtime's path from items outside a `const _` block.
fn runtime_path(krate: Option<&Path>) -> TokenStream {
    match krate {
        None => quote!(::tandem),
        Some(path) => match path.get_ident() {
            Some(ident) if path.leading_colon.is_none() => quote!(::#ident),
            _ => quote!(#path),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::methods::{self, CONTROLLER, DISPATCH, WORKER};
    use std::collections::BTreeSet;
    use syn::{parse_quote, DeriveInput, ImplItem, Item, TraitItem};

    fn input() -> DeriveInput {
        parse_quote! {
            enum Job {
                /// Begins a run.
                #[transition(input = u32, replay)]
                BeginRun,
                #[transition(output = String)]
                Event,
            }
        }
    }

    /// The methods of `impl JobController` and of `trait JobWorker` in `tokens`.
    fn generated(tokens: proc_macro2::TokenStream) -> (BTreeSet<String>, BTreeSet<String>) {
        let file: syn::File = syn::parse2(tokens).expect("the expansion parses");
        let mut controller = BTreeSet::new();
        let mut worker = BTreeSet::new();
        for item in file.items {
            match item {
                Item::Impl(item) if item.trait_.is_none() => {
                    for inner in item.items {
                        if let ImplItem::Fn(method) = inner {
                            controller.insert(method.sig.ident.to_string());
                        }
                    }
                }
                Item::Trait(item) if item.ident == "JobWorker" => {
                    for inner in item.items {
                        if let TraitItem::Fn(method) = inner {
                            worker.insert(method.sig.ident.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        (controller, worker)
    }

    fn set(names: impl IntoIterator<Item = &'static str>) -> BTreeSet<String> {
        names.into_iter().map(str::to_owned).collect()
    }

    #[test]
    fn the_reserved_names_are_exactly_the_generated_methods() {
        let (controller, worker) = generated(super::expand(&input()));
        let transitions = set(["begin_run", "event"]);
        let fixed: BTreeSet<String> = controller.difference(&transitions).cloned().collect();
        assert_eq!(fixed, set(methods::names(CONTROLLER)));
        let provided: BTreeSet<String> = worker.difference(&transitions).cloned().collect();
        let mut reserved = set(methods::names(WORKER));
        reserved.insert(DISPATCH.to_owned());
        assert_eq!(provided, reserved);
    }

    #[test]
    fn the_fallback_stubs_every_generated_method() {
        let mut broken = input();
        broken.attrs.push(parse_quote!(#[transitions(bogus)]));
        let expansion = super::expand(&broken);
        assert!(expansion.to_string().contains("compile_error"));
        // `compile_error!` invocations are items too; only the stubs matter here.
        let (controller, worker) = generated(expansion);
        let mut expected = set(methods::names(CONTROLLER));
        expected.extend(set(["begin_run", "event"]));
        assert_eq!(controller, expected);
        let mut expected = set(methods::names(WORKER));
        expected.extend(set(["begin_run", "event"]));
        assert_eq!(worker, expected);
    }

    /// The methods of `impl JobPool` in `tokens`.
    fn pool_methods(tokens: proc_macro2::TokenStream) -> BTreeSet<String> {
        let file: syn::File = syn::parse2(tokens).expect("the expansion parses");
        let mut methods = BTreeSet::new();
        for item in file.items {
            if let Item::Impl(item) = item {
                let is_pool = matches!(&*item.self_ty, syn::Type::Path(path) if path.path.is_ident("JobPool"));
                if is_pool && item.trait_.is_none() {
                    for inner in item.items {
                        if let ImplItem::Fn(method) = inner {
                            methods.insert(method.sig.ident.to_string());
                        }
                    }
                }
            }
        }
        methods
    }

    #[test]
    fn the_pool_has_its_fixed_methods_and_one_per_role_in_the_expansion_and_the_fallback() {
        let mut pooled: DeriveInput = parse_quote! {
            enum Job {
                #[transition(input = u32, replay)]
                BeginRun,
                #[transition(input = u64, output = String, item)]
                Event,
                #[transition(output = u64, end)]
                EndRun,
                #[transition(output = String)]
                Status,
            }
        };
        let mut expected = set(methods::names(methods::POOL));
        expected.extend(set(["begin_run", "event", "end_run"]));
        assert_eq!(pool_methods(super::expand(&pooled)), expected);
        pooled.attrs.push(parse_quote!(#[transitions(bogus)]));
        assert_eq!(pool_methods(super::expand(&pooled)), expected);
        assert!(
            pool_methods(super::expand(&input())).is_empty(),
            "no item, no pool"
        );
    }

    #[test]
    fn variant_docs_reach_the_worker_controller_and_async_methods() {
        let expansion = super::expand(&input()).to_string();
        assert_eq!(
            expansion.matches("\" Begins a run.\"").count(),
            3,
            "{expansion}"
        );
    }
}
