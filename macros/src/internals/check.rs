//! Validation shared by the derives.
//!
//! Payload types are checked only for shapes that are never a payload whatever their name:
//! references, raw and function pointers, trait objects, slices. Those get a message saying
//! what to use instead. Named types are left to the `Payload` trait bound and its
//! `#[diagnostic::on_unimplemented]` message, so a user type called `Cell` is as good as
//! any other.

use super::ast::{vec_element, Container, Data, Field, TransitionSet};
use super::ctxt::Ctxt;
use syn::{Fields, GenericArgument, PathArguments, Type};

/// Names a transition's method cannot take, with the reason.
pub(crate) struct Reserved<'a> {
    /// The methods of the generated worker trait besides the transitions.
    pub(crate) worker: &'a [&'a str],
    /// The methods of the generated controller besides the transitions.
    pub(crate) controller: &'a [&'a str],
    /// The methods of the generated pool besides the transitions (an enum with an `item`
    /// transition only).
    pub(crate) pool: &'a [&'a str],
    /// The inherent methods of the async typed controller, which would shadow the generated
    /// async calls of the same name.
    pub(crate) async_controller: &'a [&'a str],
}

/// Checks a `#[derive(Transitions)]` input.
pub(crate) fn check_transitions(cx: &Ctxt, set: &TransitionSet<'_>, reserved: &Reserved<'_>) {
    if !set.generics.params.is_empty() {
        cx.error_spanned_by(
            set.generics,
            "a transitions enum cannot be generic: its payload types must be concrete so that \
             both processes agree on them",
        );
    }
    if set.transitions.is_empty() {
        cx.error_spanned_by(
            set.ident,
            "a transitions enum needs at least one variant: declare one per transition",
        );
    }
    if let Some(setup) = &set.attrs.setup {
        check_type(cx, setup);
    }
    for (index, transition) in set.transitions.iter().enumerate() {
        let variant = transition.variant;
        if !matches!(variant.fields, Fields::Unit) {
            cx.error_spanned_by(
                &variant.fields,
                format!(
                    "transition `{}` cannot carry fields: declare its payloads with \
                     `#[transition(input = T, output = U)]`",
                    variant.ident
                ),
            );
        }
        if let Some((_, discriminant)) = &variant.discriminant {
            cx.error_spanned_by(
                discriminant,
                "explicit discriminants are not allowed: a transition's kind is its position \
                 in the enum",
            );
        }
        let name = transition.name.as_str();
        let pooled = set.transitions.iter().any(|t| t.attrs.item.is_some());
        let clash = if reserved.worker.contains(&name) {
            Some("which the generated worker trait already has")
        } else if reserved.controller.contains(&name) {
            Some("which the generated controller already has")
        } else if pooled && reserved.pool.contains(&name) {
            Some("which the generated pool already has")
        } else if reserved.async_controller.contains(&name) {
            Some("which `AsyncTypedController` already has (it would shadow the async call)")
        } else if matches!(name, "self" | "super" | "crate") {
            Some("a keyword that cannot name a method")
        } else {
            None
        };
        if let Some(reason) = clash {
            cx.error_spanned_by(
                transition.ident,
                format!(
                    "transition `{}` would become the method `{name}`, {reason}: rename \
                     the variant",
                    transition.ident
                ),
            );
        }
        if let Some(previous) = set.transitions[..index].iter().find(|t| t.name == name) {
            cx.error_spanned_by(
                transition.ident,
                format!(
                    "duplicate transition name: `{}` and `{}` both become the method `{name}`",
                    previous.ident, transition.ident
                ),
            );
        }
        for ty in [&transition.attrs.input, &transition.attrs.output]
            .into_iter()
            .flatten()
        {
            check_type(cx, ty);
        }
        let attrs = &transition.attrs;
        if let (Some(_), Some(role)) = (&attrs.replay, attrs.item.as_ref().or(attrs.end.as_ref())) {
            cx.error_spanned_by(
                role,
                "a `replay` transition establishes state before items: it cannot also be an \
                 `item` or an `end` transition",
            );
        }
        if let (Some(_), Some(end)) = (&attrs.item, &attrs.end) {
            cx.error_spanned_by(
                end,
                "the `item` transition runs once per item: it cannot also end a block",
            );
        }
        if let Some(item) = &attrs.item {
            if set.transitions[..index]
                .iter()
                .any(|t| t.attrs.item.is_some())
            {
                cx.error_spanned_by(
                    item,
                    "only one transition can be the `item` transition a pool distributes",
                );
            }
        }
        if let Some(borrow) = &transition.attrs.borrow {
            match &transition.attrs.input {
                None => cx.error_spanned_by(
                    borrow,
                    "`borrow` needs an input to borrow: declare `input = Vec<E>` with a \
                     plain-old-data `E`",
                ),
                Some(input) if vec_element(input).is_none() => cx.error_spanned_by(
                    input,
                    "`borrow` reads a `Vec<E>` of plain-old-data elements in place: declare \
                     the input as `Vec<E>`",
                ),
                Some(_) => {}
            }
        }
        if let Some(reuse) = &attrs.reuse {
            match (&attrs.input, &attrs.output, &attrs.borrow) {
                (None, None, _) => cx.error_spanned_by(
                    reuse,
                    "`reuse` keeps a transition's input and output between calls, and this one \
                     has neither: declare `input = T` or `output = U`, or drop `reuse`",
                ),
                (_, None, Some(_)) => cx.error_spanned_by(
                    reuse,
                    "`reuse` on a `borrow` transition keeps only its output, since the input is \
                     read in place, and this one has none: declare `output = U` or drop `reuse`",
                ),
                _ => {}
            }
        }
    }
}

/// Checks a `#[derive(Payload)]` input.
pub(crate) fn check(cx: &Ctxt, container: &Container<'_>) {
    if let (Some(pod), Data::Enum(_)) = (&container.attrs.pod, &container.data) {
        cx.error_spanned_by(
            pod,
            "`#[payload(pod)]` applies to structs only: an enum's tag must be validated",
        );
    }
    match &container.data {
        Data::Struct(_, fields) => check_fields(cx, fields),
        Data::Enum(variants) => {
            for variant in variants {
                check_fields(cx, &variant.fields);
            }
        }
    }
}

fn check_fields(cx: &Ctxt, fields: &[Field<'_>]) {
    for field in fields {
        check_type(cx, field.ty);
    }
}

const BOUNDARY: &str = "cannot cross a process boundary";

fn check_type(cx: &Ctxt, ty: &Type) {
    match ty {
        Type::Reference(reference) => {
            let message = match &*reference.elem {
                Type::Path(path) if path.path.is_ident("str") => {
                    format!("`&str` {BOUNDARY}: use `String`")
                }
                Type::Slice(_) => format!("`&[T]` {BOUNDARY}: use `Vec<T>`"),
                _ => format!(
                    "references {BOUNDARY}: they point into this process's memory; use the \
                     owned type `T` or `Box<T>`"
                ),
            };
            cx.error_spanned_by(ty, message);
        }
        Type::Ptr(_) => cx.error_spanned_by(
            ty,
            format!(
                "raw pointers {BOUNDARY}: an address means nothing in another process; send \
                 the data itself"
            ),
        ),
        Type::BareFn(_) => cx.error_spanned_by(
            ty,
            format!(
                "function pointers {BOUNDARY}: code addresses differ between processes; send \
                 an enum that selects the function"
            ),
        ),
        Type::TraitObject(_) => cx.error_spanned_by(
            ty,
            format!(
                "trait objects {BOUNDARY}: the decoder must know the concrete type; use a \
                 concrete type or an enum"
            ),
        ),
        Type::ImplTrait(_) => {
            cx.error_spanned_by(ty, format!("`impl Trait` {BOUNDARY}: use a concrete type"))
        }
        Type::Slice(_) => cx.error_spanned_by(ty, format!("`[T]` {BOUNDARY}: use `Vec<T>`")),
        Type::Array(array) => check_type(cx, &array.elem),
        Type::Tuple(tuple) => {
            for elem in &tuple.elems {
                check_type(cx, elem);
            }
        }
        Type::Paren(paren) => check_type(cx, &paren.elem),
        Type::Group(group) => check_type(cx, &group.elem),
        Type::Path(path) => {
            if let Some(qself) = &path.qself {
                check_type(cx, &qself.ty);
            }
            for segment in &path.path.segments {
                if let PathArguments::AngleBracketed(arguments) = &segment.arguments {
                    for argument in &arguments.args {
                        if let GenericArgument::Type(ty) = argument {
                            check_type(cx, ty);
                        }
                    }
                }
            }
        }
        // Never, macros, inferred and verbatim types are left to the `Payload` bound.
        _ => {}
    }
}
