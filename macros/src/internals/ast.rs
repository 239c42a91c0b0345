//! A typed model of the derive input, keeping the original syntax for spans.

use super::attr::{self, ContainerAttrs};
use super::ctxt::Ctxt;
use syn::ext::IdentExt;
use syn::{DeriveInput, Generics, Ident, Member, Type};

/// The type being derived on.
pub(crate) struct Container<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) attrs: ContainerAttrs,
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
        let attrs = ContainerAttrs::from_ast(cx, &input.attrs);
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
