//! Typed models of the derive inputs, keeping the original syntax for spans: [`Container`]
//! for `#[derive(Payload)]`, [`TransitionSet`] for `#[derive(Transitions)]`.

use super::attr::{self, PayloadAttrs, TransitionAttrs, TransitionsAttrs};
use super::ctxt::Ctxt;
use syn::ext::IdentExt;
use syn::{Attribute, DeriveInput, Generics, Ident, Member, Type};

/// The type being derived on.
pub(crate) struct Container<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) attrs: PayloadAttrs,
    pub(crate) data: Data<'a>,
    pub(crate) generics: &'a Generics,
}

pub(crate) enum Data<'a> {
    Struct(Style, Vec<Field<'a>>),
    Enum(Vec<Variant<'a>>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// `{ a: A }`
    Named,
    /// `(A)`
    Tuple,
    /// no fields
    Unit,
}

impl Style {
    /// The word hashed into fingerprints.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Style::Named => "named",
            Style::Tuple => "tuple",
            Style::Unit => "unit",
        }
    }
}

pub(crate) struct Variant<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) style: Style,
    pub(crate) fields: Vec<Field<'a>>,
}

pub(crate) struct Field<'a> {
    /// `a` or `0`.
    pub(crate) member: Member,
    /// The member as written, for fingerprints and error context.
    pub(crate) name: String,
    pub(crate) ty: &'a Type,
}

impl<'a> Container<'a> {
    /// `None` for unions, after recording the error.
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let attrs = PayloadAttrs::from_ast(cx, &input.attrs);
        let data = match &input.data {
            syn::Data::Struct(data) => {
                let (style, fields) = fields_from_ast(cx, &data.fields);
                Data::Struct(style, fields)
            }
            syn::Data::Enum(data) => Data::Enum(
                data.variants
                    .iter()
                    .map(|variant| {
                        attr::reject_member_attrs(cx, &variant.attrs, "variant");
                        let (style, fields) = fields_from_ast(cx, &variant.fields);
                        Variant {
                            ident: &variant.ident,
                            style,
                            fields,
                        }
                    })
                    .collect(),
            ),
            syn::Data::Union(data) => {
                cx.error_spanned_by(
                    data.union_token,
                    "unions cannot derive `Payload`: the decoder cannot know which field is \
                     active; use an enum",
                );
                return None;
            }
        };
        Some(Container {
            ident: &input.ident,
            attrs,
            data,
            generics: &input.generics,
        })
    }
}

fn fields_from_ast<'a>(cx: &Ctxt, fields: &'a syn::Fields) -> (Style, Vec<Field<'a>>) {
    let style = match fields {
        syn::Fields::Named(_) => Style::Named,
        syn::Fields::Unnamed(_) => Style::Tuple,
        syn::Fields::Unit => Style::Unit,
    };
    let fields = fields
        .iter()
        .enumerate()
        .map(|(index, field)| {
            attr::reject_member_attrs(cx, &field.attrs, "field");
            let member = match &field.ident {
                Some(ident) => Member::Named(ident.clone()),
                None => Member::Unnamed(index.into()),
            };
            let name = match &field.ident {
                Some(ident) => ident.unraw().to_string(),
                None => index.to_string(),
            };
            Field {
                member,
                name,
                ty: &field.ty,
            }
        })
        .collect();
    (style, fields)
}

/// The enum `#[derive(Transitions)]` is applied to. Non-enums are refused while building it.
pub(crate) struct TransitionSet<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) attrs: TransitionsAttrs,
    pub(crate) generics: &'a Generics,
    pub(crate) transitions: Vec<Transition<'a>>,
}

/// One variant: one transition.
pub(crate) struct Transition<'a> {
    pub(crate) variant: &'a syn::Variant,
    pub(crate) ident: &'a Ident,
    /// The transition's name, the variant in snake case: `BeginRun` → `begin_run`.
    pub(crate) name: String,
    /// The generated methods' name: `name` at the variant's span, raw if a keyword.
    pub(crate) method: Ident,
    pub(crate) attrs: TransitionAttrs,
    /// The variant's doc comments, carried to the generated methods.
    pub(crate) docs: Vec<&'a Attribute>,
}

impl Transition<'_> {
    /// The element type `E` of a `borrow` transition's `Vec<E>` input; `None` when the
    /// transition does not borrow or its input is not written as a `Vec<E>` (reported by the
    /// check).
    pub(crate) fn borrowed_element(&self) -> Option<&Type> {
        self.attrs.borrow.as_ref()?;
        vec_element(self.attrs.input.as_ref()?)
    }
}

impl Transition<'_> {
    /// Whether the serve loop keeps this transition's input between calls and decodes each
    /// request into it: `reuse` on a transition that declares an input it does not borrow.
    pub(crate) fn reuses_input(&self) -> bool {
        self.attrs.reuse.is_some() && self.attrs.input.is_some() && self.attrs.borrow.is_none()
    }

    /// Whether the serve loop keeps this transition's output between calls and hands it to
    /// the method to refill: `reuse` on a transition that declares an output.
    pub(crate) fn reuses_output(&self) -> bool {
        self.attrs.reuse.is_some() && self.attrs.output.is_some()
    }
}

/// `E` in a type written `Vec<E>` (any path ending in `Vec`).
pub(crate) fn vec_element(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Vec" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return None;
    };
    match arguments.args.iter().collect::<Vec<_>>().as_slice() {
        [syn::GenericArgument::Type(element)] => Some(element),
        _ => None,
    }
}

impl<'a> TransitionSet<'a> {
    /// `None` for structs and unions, after recording the error.
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let attrs = TransitionsAttrs::from_ast(cx, &input.attrs);
        let data = match &input.data {
            syn::Data::Enum(data) => data,
            syn::Data::Struct(data) => {
                not_an_enum(cx, data.struct_token);
                return None;
            }
            syn::Data::Union(data) => {
                not_an_enum(cx, data.union_token);
                return None;
            }
        };
        let transitions = data
            .variants
            .iter()
            .map(|variant| {
                let name = snake_case(&variant.ident.unraw().to_string());
                Transition {
                    variant,
                    ident: &variant.ident,
                    method: method_ident(&name, &variant.ident),
                    name,
                    attrs: TransitionAttrs::from_ast(cx, &variant.attrs),
                    docs: attr::docs(&variant.attrs),
                }
            })
            .collect();
        Some(TransitionSet {
            ident: &input.ident,
            attrs,
            generics: &input.generics,
            transitions,
        })
    }
}

fn not_an_enum(cx: &Ctxt, token: impl quote::ToTokens) {
    cx.error_spanned_by(
        token,
        "`Transitions` can only be derived for an enum: declare one fieldless variant per \
         transition",
    );
}

/// The method named `name` at the variant's span; a keyword (`Type` → `type`) becomes a
/// raw identifier (`r#type`). `self`, `super` and `crate` cannot be raw: they are refused by
/// the checks and get a placeholder so that the fallback still parses.
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
pub(crate) fn snake_case(name: &str) -> String {
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
