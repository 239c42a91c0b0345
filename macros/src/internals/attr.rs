//! Attribute parsing shared by the derives: `#[payload(...)]`, `#[transitions(...)]` and
//! `#[transition(...)]`.
//!
//! Every attribute is read key by key. A bad key or a bad value is recorded in the [`Ctxt`]
//! and parsing goes on with the next key, so one build reports every mistake of an attribute.

use super::ctxt::Ctxt;
use proc_macro2::TokenTree;
use syn::meta::ParseNestedMeta;
use syn::parse::Parse;
use syn::{Attribute, LitStr, Meta, Path, Type};

/// Container attributes of `#[derive(Payload)]`.
#[derive(Default)]
pub(crate) struct PayloadAttrs {
    /// `#[payload(pod)]`, keeping the `pod` path for spans.
    pub(crate) pod: Option<Path>,
    /// `#[payload(crate = "path")]`.
    pub(crate) crate_path: Option<Path>,
}

impl PayloadAttrs {
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut result = PayloadAttrs::default();
        for attr in named(attrs, "payload") {
            parse_keys(cx, attr, "payload", "`pod` or `crate = \"...\"`", |meta| {
                if meta.path.is_ident("pod") {
                    flag(cx, meta, "payload", &mut result.pod);
                    true
                } else if meta.path.is_ident("crate") {
                    crate_key(cx, meta, "payload", &mut result.crate_path);
                    true
                } else {
                    false
                }
            });
        }
        result
    }
}

/// Container attributes of `#[derive(Transitions)]`: `#[transitions(setup = S, crate = "...")]`.
#[derive(Default)]
pub(crate) struct TransitionsAttrs {
    /// The setup payload type; `()` when absent.
    pub(crate) setup: Option<Type>,
    /// `#[transitions(crate = "path")]`.
    pub(crate) crate_path: Option<Path>,
}

impl TransitionsAttrs {
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut result = TransitionsAttrs::default();
        for attr in named(attrs, "transitions") {
            parse_keys(
                cx,
                attr,
                "transitions",
                "`setup = T` or `crate = \"...\"`",
                |meta| {
                    if meta.path.is_ident("setup") {
                        value(cx, meta, "transitions", &mut result.setup);
                        true
                    } else if meta.path.is_ident("crate") {
                        crate_key(cx, meta, "transitions", &mut result.crate_path);
                        true
                    } else {
                        false
                    }
                },
            );
        }
        for attr in named(attrs, "transition") {
            cx.error_spanned_by(
                attr,
                "`#[transition(...)]` belongs on a variant: on the enum use `#[transitions(...)]`",
            );
        }
        result
    }
}

/// Variant attributes of `#[derive(Transitions)]`: `#[transition(input = I, output = O,
/// replay, borrow, reuse, item, end)]`, every key optional, a bare `#[transition]` accepted.
#[derive(Default, Clone)]
pub(crate) struct TransitionAttrs {
    pub(crate) input: Option<Type>,
    pub(crate) output: Option<Type>,
    /// `replay`, keeping the path for spans.
    pub(crate) replay: Option<Path>,
    /// `borrow`: the worker reads a `Vec<E>` input in place, keeping the path for spans.
    pub(crate) borrow: Option<Path>,
    /// `reuse`: the worker's serve loop keeps the input and output values between calls and
    /// hands them to the method by `&mut`, keeping the path for spans.
    pub(crate) reuse: Option<Path>,
    /// `item`: the per-item transition a [`Pool`] distributes over its workers.
    pub(crate) item: Option<Path>,
    /// `end`: a transition that ends a block (end-lumi, end-run), sent by a pool to every
    /// worker that took part.
    pub(crate) end: Option<Path>,
}

impl TransitionAttrs {
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut result = TransitionAttrs::default();
        for attr in named(attrs, "transition") {
            parse_keys(
                cx,
                attr,
                "transition",
                "`input`, `output`, `replay`, `borrow`, `reuse`, `item` or `end`",
                |meta| {
                    if meta.path.is_ident("input") {
                        value(cx, meta, "transition", &mut result.input);
                    } else if meta.path.is_ident("output") {
                        value(cx, meta, "transition", &mut result.output);
                    } else if meta.path.is_ident("replay") {
                        flag(cx, meta, "transition", &mut result.replay);
                    } else if meta.path.is_ident("borrow") {
                        flag(cx, meta, "transition", &mut result.borrow);
                    } else if meta.path.is_ident("reuse") {
                        flag(cx, meta, "transition", &mut result.reuse);
                    } else if meta.path.is_ident("item") {
                        flag(cx, meta, "transition", &mut result.item);
                    } else if meta.path.is_ident("end") {
                        flag(cx, meta, "transition", &mut result.end);
                    } else {
                        return false;
                    }
                    true
                },
            );
        }
        for attr in named(attrs, "transitions") {
            cx.error_spanned_by(
                attr,
                "`#[transitions(...)]` belongs on the enum: on a variant use `#[transition(...)]`",
            );
        }
        result
    }
}

/// Fields and variants of a `Payload` take no `payload` attributes: report any.
pub(crate) fn reject_member_attrs(cx: &Ctxt, attrs: &[Attribute], what: &str) {
    for attr in named(attrs, "payload") {
        cx.error_spanned_by(
            attr,
            format!("`#[payload(...)]` on a {what} is not supported: it belongs on the type"),
        );
    }
}

/// The doc comments (`#[doc = "..."]`) among `attrs`, to carry over to generated items.
pub(crate) fn docs(attrs: &[Attribute]) -> Vec<&Attribute> {
    named(attrs, "doc").collect()
}

fn named<'a>(attrs: &'a [Attribute], name: &'a str) -> impl Iterator<Item = &'a Attribute> {
    attrs.iter().filter(move |attr| attr.path().is_ident(name))
}

/// Parses the keys of `#[attr_name(...)]` with `key`, which returns `false` for a key it does
/// not know. Every error is recorded and parsing resumes at the next key. A bare
/// `#[attr_name]` has no keys.
fn parse_keys(
    cx: &Ctxt,
    attr: &Attribute,
    attr_name: &str,
    expected: &str,
    mut key: impl FnMut(&ParseNestedMeta<'_>) -> bool,
) {
    match &attr.meta {
        Meta::Path(_) => return,
        Meta::NameValue(meta) => {
            cx.error_spanned_by(
                meta,
                format!("`#[{attr_name} = ...]` is not supported: write `#[{attr_name}(key = value, ...)]`"),
            );
            return;
        }
        Meta::List(_) => {}
    }
    let parsed = attr.parse_nested_meta(|meta| {
        if !key(&meta) {
            cx.error_spanned_by(
                &meta.path,
                format!(
                    "unknown key `{}` in `#[{attr_name}(...)]`: expected {expected}",
                    path_to_string(&meta.path)
                ),
            );
        }
        // Whatever the key did not consume (the value of an unknown or bad key) is skipped, so
        // that the next key is still read.
        skip_rest(&meta)
    });
    if let Err(error) = parsed {
        cx.syn_error(error);
    }
}

/// Consumes the tokens up to the next top-level `,`.
fn skip_rest(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    meta.input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            if matches!(&tree, TokenTree::Punct(punct) if punct.as_char() == ',') {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    })
}

/// Parses the value of `key = value`; records an error and returns `None` if there is no
/// `=`, if the value does not parse, or if anything but `,` follows it.
fn parse_value<T: Parse>(cx: &Ctxt, meta: &ParseNestedMeta<'_>, attr_name: &str) -> Option<T> {
    if !meta.input.peek(syn::Token![=]) {
        cx.error_spanned_by(
            &meta.path,
            format!(
                "`{key}` in `#[{attr_name}(...)]` needs a value: write `{key} = ...`",
                key = path_to_string(&meta.path)
            ),
        );
        return None;
    }
    let parsed = meta.value().and_then(|input| {
        let value = input.parse::<T>()?;
        if input.is_empty() || input.peek(syn::Token![,]) {
            Ok(value)
        } else {
            Err(input.error(format!(
                "expected `,` after the value of `{}`",
                path_to_string(&meta.path)
            )))
        }
    });
    parsed.map_err(|error| cx.syn_error(error)).ok()
}

/// `key = T`: parses the value, records a duplicate.
fn value<T: Parse>(cx: &Ctxt, meta: &ParseNestedMeta<'_>, attr_name: &str, slot: &mut Option<T>) {
    match parse_value::<T>(cx, meta, attr_name) {
        Some(_) if slot.is_some() => duplicate(cx, meta, attr_name),
        Some(parsed) => *slot = Some(parsed),
        None => {}
    }
}

/// A key without a value, such as `pod` or `replay`.
fn flag(cx: &Ctxt, meta: &ParseNestedMeta<'_>, attr_name: &str, slot: &mut Option<Path>) {
    if meta.input.peek(syn::Token![=])
        || (!meta.input.is_empty() && !meta.input.peek(syn::Token![,]))
    {
        cx.error_spanned_by(
            &meta.path,
            format!(
                "`{key}` in `#[{attr_name}(...)]` takes no value: write just `{key}`",
                key = path_to_string(&meta.path)
            ),
        );
    } else if slot.is_some() {
        duplicate(cx, meta, attr_name);
    } else {
        *slot = Some(meta.path.clone());
    }
}

/// `crate = "path"`.
fn crate_key(cx: &Ctxt, meta: &ParseNestedMeta<'_>, attr_name: &str, slot: &mut Option<Path>) {
    let Some(literal) = parse_value::<LitStr>(cx, meta, attr_name) else {
        return;
    };
    match literal.parse::<Path>() {
        Ok(_) if slot.is_some() => duplicate(cx, meta, attr_name),
        Ok(path) => *slot = Some(path),
        Err(_) => cx.error_spanned_by(
            &literal,
            format!(
                "`crate` in `#[{attr_name}(...)]` expects a path such as \"tandem\", found {:?}",
                literal.value()
            ),
        ),
    }
}

fn duplicate(cx: &Ctxt, meta: &ParseNestedMeta<'_>, attr_name: &str) {
    cx.error_spanned_by(
        &meta.path,
        format!(
            "duplicate key `{}` in `#[{attr_name}(...)]`: give each key once",
            path_to_string(&meta.path)
        ),
    );
}

pub(crate) fn path_to_string(path: &Path) -> String {
    path.segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}
