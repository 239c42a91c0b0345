//! Validation: field types that cannot cross a process boundary, misplaced attributes.
//!
//! Types are recognised syntactically (by the last path segment), which catches the common
//! mistakes with a message saying what to use instead; anything else that does not implement
//! `Payload` is caught by the trait bound and its `on_unimplemented` message.

use super::ast::{Container, Data, Field};
use super::ctxt::Ctxt;
use syn::{GenericArgument, PathArguments, Type};

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
            if let Some(last) = path.path.segments.last() {
                if let Some(message) = rejected_name(&last.ident.to_string()) {
                    cx.error_spanned_by(ty, message);
                    return;
                }
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

/// The message for a well-known type that cannot be a payload, by its last path segment.
fn rejected_name(name: &str) -> Option<String> {
    let message = match name {
        "str" => format!("`str` {BOUNDARY}: use `String`"),
        "Rc" | "Arc" | "Weak" => format!(
            "`{name}` {BOUNDARY}: shared ownership does not survive a copy into another \
             process; use the inner type `T` or `Box<T>`"
        ),
        "Cell" | "RefCell" | "UnsafeCell" | "OnceCell" | "LazyCell" | "SyncUnsafeCell"
        | "Mutex" | "RwLock" | "OnceLock" | "LazyLock" | "ReentrantMutex" => format!(
            "`{name}` {BOUNDARY}: interior mutability and locks mean nothing in a copy; use \
             the inner type `T`"
        ),
        "NonNull" => format!(
            "`NonNull` {BOUNDARY}: an address means nothing in another process; send the data \
             itself"
        ),
        _ if name.starts_with("Atomic") => format!(
            "`{name}` {BOUNDARY}: atomics are not shared through a copy; use the plain value \
             type"
        ),
        _ => return None,
    };
    Some(message)
}
