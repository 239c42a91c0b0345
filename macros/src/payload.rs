//! `#[derive(Payload)]`: parse → validate → expand.
//!
//! The expansion is wrapped in `const _: () = { extern crate tandem as _tandem; ... };` and
//! reaches the runtime only through `_tandem::__private` and `::core`, so it works whatever
//! the user has in scope.

use crate::internals::ast::{Container, Data, Field, Style, Variant};
use crate::internals::{check, crate_binding, ctxt::Ctxt};
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{DeriveInput, Generics, Ident, Type};

pub(crate) fn expand(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let container = Container::from_ast(&cx, input);
    if let Some(container) = &container {
        check::check(&cx, container);
    }
    let crate_path = container
        .as_ref()
        .and_then(|container| container.attrs.crate_path.clone());
    match (cx.check(), container) {
        (Ok(()), Some(container)) => wrap(crate_path.as_ref(), impl_payload(&container)),
        (result, _) => {
            let errors = result.err().unwrap_or_default();
            let errors = errors.iter().map(syn::Error::to_compile_error);
            let fallback = wrap(crate_path.as_ref(), fallback(input));
            quote!(#(#errors)* #fallback)
        }
    }
}

fn wrap(crate_path: Option<&syn::Path>, body: TokenStream) -> TokenStream {
    let binding = crate_binding(crate_path);
    quote! {
        #[doc(hidden)]
        #[allow(
            non_upper_case_globals,
            unused_qualifications,
            unused_variables,
            unused_mut,
            clippy::all
        )]
        const _: () = {
            #binding
            #body
        };
    }
}

/// A minimal impl emitted beside `compile_error!`s, so that uses of the type do not add a
/// cascade of "`Payload` is not implemented" errors.
fn fallback(input: &DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let generics = with_bounds(&input.generics);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics _tandem::__private::Payload for #ident #ty_generics #where_clause {
            const FINGERPRINT: ::core::primitive::u64 = 0;
            fn encoded_len(&self, _: ::core::primitive::usize) -> ::core::primitive::usize {
                ::core::unimplemented!()
            }
            fn encode(&self, _: &mut _tandem::__private::Encoder<'_>) {
                ::core::unimplemented!()
            }
            fn decode(
                _: &mut _tandem::__private::Decoder<'_>,
            ) -> ::core::result::Result<Self, _tandem::__private::DecodeError> {
                ::core::unimplemented!()
            }
        }
    }
}

/// The input's generics with a `Payload` bound on every type parameter.
fn with_bounds(generics: &Generics) -> Generics {
    let mut generics = generics.clone();
    let params: Vec<Ident> = generics
        .type_params()
        .map(|param| param.ident.clone())
        .collect();
    let where_clause = generics.make_where_clause();
    for param in params {
        where_clause
            .predicates
            .push(syn::parse_quote!(#param: _tandem::__private::Payload));
    }
    generics
}

fn impl_payload(container: &Container<'_>) -> TokenStream {
    let ident = container.ident;
    let mut generics = with_bounds(container.generics);
    if let Some(pod) = &container.attrs.pod {
        // Spanned at `pod`, so a type without zerocopy's derives is reported there.
        let bound = quote_spanned!(pod.span()=> Self: _tandem::__private::Pod);
        generics
            .make_where_clause()
            .predicates
            .push(syn::parse_quote!(#bound));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let body = match &container.data {
        Data::Struct(style, fields) if container.attrs.pod.is_some() => {
            pod_struct(container, *style, fields)
        }
        Data::Struct(style, fields) => plain_struct(container, *style, fields),
        Data::Enum(variants) => enumeration(container, variants),
    };
    let pod_marker = container.attrs.pod.is_some().then(|| {
        quote! {
            #[automatically_derived]
            impl #impl_generics _tandem::__private::PodPayload for #ident #ty_generics #where_clause {}
        }
    });
    quote! {
        #[automatically_derived]
        impl #impl_generics _tandem::__private::Payload for #ident #ty_generics #where_clause {
            #body
        }
        #pod_marker
    }
}

/// `<Ty as Payload>`, spanned at the field type so a missing impl is reported there.
fn payload_of(ty: &Type) -> TokenStream {
    quote_spanned!(ty.span()=> <#ty as _tandem::__private::Payload>)
}

/// Does `ty` mention the deriving type (by name or as `Self`)?
fn is_self_referential(ty: &Type, ident: &Ident) -> bool {
    fn walk(tokens: TokenStream, ident: &Ident) -> bool {
        tokens.into_iter().any(|tree| match tree {
            TokenTree::Ident(found) => found == *ident || found == "Self",
            TokenTree::Group(group) => walk(group.stream(), ident),
            _ => false,
        })
    }
    walk(ty.to_token_stream(), ident)
}

/// `ty` as written, with the deriving type's name replaced by `Self`.
fn type_text(ty: &Type, ident: &Ident) -> String {
    fn walk(tokens: TokenStream, ident: &Ident, out: &mut String) {
        for tree in tokens {
            match tree {
                TokenTree::Ident(found) if found == *ident => out.push_str("Self "),
                TokenTree::Group(group) => {
                    let (open, close) = match group.delimiter() {
                        proc_macro2::Delimiter::Parenthesis => ("( ", ") "),
                        proc_macro2::Delimiter::Brace => ("{ ", "} "),
                        proc_macro2::Delimiter::Bracket => ("[ ", "] "),
                        proc_macro2::Delimiter::None => ("", ""),
                    };
                    out.push_str(open);
                    walk(group.stream(), ident, out);
                    out.push_str(close);
                }
                other => {
                    out.push_str(&other.to_string());
                    out.push(' ');
                }
            }
        }
    }
    let mut out = String::new();
    walk(ty.to_token_stream(), ident, &mut out);
    out.trim_end().to_owned()
}

/// Fingerprint builder calls for `fields`, appended to `builder`.
fn fingerprint_fields(
    container: &Container<'_>,
    style: Style,
    fields: &[Field<'_>],
) -> TokenStream {
    let count = fields.len() as u64;
    let style = style.name();
    let pieces = fields.iter().map(|field| {
        let name = &field.name;
        if is_self_referential(field.ty, container.ident) {
            let text = type_text(field.ty, container.ident);
            quote!(.str(#name).str("self-reference").str(#text))
        } else {
            let payload = payload_of(field.ty);
            quote!(.str(#name).u64(#payload::FINGERPRINT))
        }
    });
    quote!(.str(#style).u64(#count) #(#pieces)*)
}

/// `ty` with every mention of the deriving type (its name with any generic arguments and
/// path, or `Self`) replaced by `_tandem::__private::SelfRef`.
fn replace_self(ty: &Type, ident: &Ident) -> Type {
    let mut ty = ty.clone();
    replace_self_in(&mut ty, ident);
    ty
}

fn replace_self_in(ty: &mut Type, ident: &Ident) {
    match ty {
        Type::Path(path) if path.qself.is_none() && names_self(&path.path, ident) => {
            *ty = syn::parse_quote_spanned!(path.span()=> _tandem::__private::SelfRef);
        }
        Type::Path(path) => {
            if let Some(qself) = &mut path.qself {
                replace_self_in(&mut qself.ty, ident);
            }
            for segment in &mut path.path.segments {
                if let syn::PathArguments::AngleBracketed(arguments) = &mut segment.arguments {
                    for argument in &mut arguments.args {
                        match argument {
                            syn::GenericArgument::Type(ty) => replace_self_in(ty, ident),
                            syn::GenericArgument::AssocType(assoc) => {
                                replace_self_in(&mut assoc.ty, ident);
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        Type::Array(array) => replace_self_in(&mut array.elem, ident),
        Type::Tuple(tuple) => {
            for elem in &mut tuple.elems {
                replace_self_in(elem, ident);
            }
        }
        Type::Paren(paren) => replace_self_in(&mut paren.elem, ident),
        Type::Group(group) => replace_self_in(&mut group.elem, ident),
        _ => {}
    }
}

/// Is `path` the deriving type: `Self`, or a path ending in its name?
fn names_self(path: &syn::Path, ident: &Ident) -> bool {
    match path.segments.last() {
        Some(last) if last.ident == *ident => true,
        Some(last) => path.segments.len() == 1 && last.ident == "Self",
        None => false,
    }
}

/// `MIN_ENCODED_LEN` of a sequence of fields. A field that mentions the deriving type is
/// measured with the mention replaced by [`SelfRef`](replace_self), which counts as 0 bytes:
/// a lower bound that still counts what every reference back costs (a `Vec`'s length
/// prefix, an `Option`'s tag) without a const cycle through `Box<Self>`. A mention the
/// replacement cannot reach (inside a macro's tokens) counts the whole field as 0 bytes.
fn min_len(container: &Container<'_>, fields: &[Field<'_>]) -> TokenStream {
    let parts = fields.iter().filter_map(|field| {
        let payload = if is_self_referential(field.ty, container.ident) {
            let replaced = replace_self(field.ty, container.ident);
            if is_self_referential(&replaced, container.ident) {
                return None;
            }
            payload_of(&replaced)
        } else {
            payload_of(field.ty)
        };
        Some(quote!(.saturating_add(#payload::MIN_ENCODED_LEN)))
    });
    quote!(0usize #(#parts)*)
}

fn pod_struct(container: &Container<'_>, style: Style, fields: &[Field<'_>]) -> TokenStream {
    let name = container.ident.to_string();
    let fingerprint_fields = fingerprint_fields(container, style, fields);
    quote! {
        const FINGERPRINT: ::core::primitive::u64 = _tandem::__private::pod_layout::<Self>(
            _tandem::__private::Fingerprint::new("struct").str(#name) #fingerprint_fields
        )
        .finish();
        const MIN_ENCODED_LEN: ::core::primitive::usize = ::core::mem::size_of::<Self>();
        const POD: ::core::option::Option<_tandem::__private::PodOps<Self>> =
            ::core::option::Option::Some(_tandem::__private::PodOps::new());

        #[inline]
        fn encoded_len(&self, _offset: ::core::primitive::usize) -> ::core::primitive::usize {
            ::core::mem::size_of::<Self>()
        }

        #[inline]
        fn encode(&self, encoder: &mut _tandem::__private::Encoder<'_>) {
            _tandem::__private::PodOps::<Self>::new().encode_one(self, encoder)
        }

        #[inline]
        fn decode(
            decoder: &mut _tandem::__private::Decoder<'_>,
        ) -> ::core::result::Result<Self, _tandem::__private::DecodeError> {
            _tandem::__private::PodOps::<Self>::new().decode_one(decoder)
        }
    }
}

/// Bindings `__field0, __field1, ...` for destructuring.
fn bindings(fields: &[Field<'_>]) -> Vec<Ident> {
    (0..fields.len())
        .map(|index| format_ident!("__field{}", index, span = Span::mixed_site()))
        .collect()
}

/// A pattern or constructor `{ a: x, b: y }` / `(x, y)` / nothing.
fn shape(style: Style, fields: &[Field<'_>], values: &[TokenStream]) -> TokenStream {
    match style {
        Style::Named => {
            let members = fields.iter().map(|field| &field.member);
            quote!({ #(#members: #values),* })
        }
        Style::Tuple => quote!(( #(#values),* )),
        Style::Unit => quote!(),
    }
}

/// Statements adding the encoded length of each binding to `__end`.
fn add_lens(fields: &[Field<'_>], bindings: &[Ident]) -> TokenStream {
    let lens = fields.iter().zip(bindings).map(|(field, binding)| {
        let payload = payload_of(field.ty);
        quote!(__end += #payload::encoded_len(#binding, __end);)
    });
    quote!(#(#lens)*)
}

fn encode_fields(fields: &[Field<'_>], bindings: &[Ident]) -> TokenStream {
    let encodes = fields.iter().zip(bindings).map(|(field, binding)| {
        let payload = payload_of(field.ty);
        quote!(#payload::encode(#binding, encoder);)
    });
    quote!(#(#encodes)*)
}

/// Field decoders for a constructor, each adding `context.field` to errors.
fn decode_fields(fields: &[Field<'_>], context: &str) -> Vec<TokenStream> {
    fields
        .iter()
        .map(|field| {
            let ty = field.ty;
            let name = &field.name;
            let payload = payload_of(ty);
            // The same `<Ty as Payload>` spelling as elsewhere, so a missing impl is one error.
            quote! {
                #payload::decode(decoder)
                    .map_err(|error| _tandem::__private::in_field(error, #context, #name))?
            }
        })
        .collect()
}

/// Statements decoding each binding (a `&mut` to the field) in place, each adding
/// `context.field` to errors.
fn decode_fields_into(fields: &[Field<'_>], bindings: &[Ident], context: &str) -> TokenStream {
    let decodes = fields.iter().zip(bindings).map(|(field, binding)| {
        let name = &field.name;
        let payload = payload_of(field.ty);
        quote! {
            #payload::decode_into(#binding, decoder)
                .map_err(|error| _tandem::__private::in_field(error, #context, #name))?;
        }
    });
    quote!(#(#decodes)*)
}

fn plain_struct(container: &Container<'_>, style: Style, fields: &[Field<'_>]) -> TokenStream {
    let name = container.ident.to_string();
    let fingerprint_fields = fingerprint_fields(container, style, fields);
    let min_len = min_len(container, fields);
    let bindings = bindings(fields);
    let pattern = shape(
        style,
        fields,
        &bindings
            .iter()
            .map(ToTokens::to_token_stream)
            .collect::<Vec<_>>(),
    );
    let add_lens = add_lens(fields, &bindings);
    let encode_fields = encode_fields(fields, &bindings);
    let constructor = shape(style, fields, &decode_fields(fields, &name));
    let decode_fields_into = decode_fields_into(fields, &bindings, &name);
    quote! {
        const FINGERPRINT: ::core::primitive::u64 =
            _tandem::__private::Fingerprint::new("struct").str(#name) #fingerprint_fields .finish();
        const MIN_ENCODED_LEN: ::core::primitive::usize = #min_len;

        #[inline]
        fn encoded_len(&self, offset: ::core::primitive::usize) -> ::core::primitive::usize {
            let Self #pattern = self;
            let mut __end = offset;
            #add_lens
            __end - offset
        }

        #[inline]
        fn encode(&self, encoder: &mut _tandem::__private::Encoder<'_>) {
            let Self #pattern = self;
            #encode_fields
        }

        fn decode(
            decoder: &mut _tandem::__private::Decoder<'_>,
        ) -> ::core::result::Result<Self, _tandem::__private::DecodeError> {
            decoder.nested(|decoder| ::core::result::Result::Ok(Self #constructor))
        }

        // The same checks as `decode`, with the value built in the slot (a `Vec`'s buffer).
        #[inline]
        fn decode_in_place<'__id>(
            decoder: &mut _tandem::__private::Decoder<'_>,
            __slot: _tandem::__private::Slot<'_, '__id, Self>,
        ) -> ::core::result::Result<
            _tandem::__private::Filled<'__id>,
            _tandem::__private::DecodeError,
        > {
            decoder.nested(|decoder| ::core::result::Result::Ok(__slot.write(Self #constructor)))
        }

        fn decode_into(
            &mut self,
            decoder: &mut _tandem::__private::Decoder<'_>,
        ) -> ::core::result::Result<(), _tandem::__private::DecodeError> {
            decoder.nested(|decoder| {
                let Self #pattern = self;
                #decode_fields_into
                ::core::result::Result::Ok(())
            })
        }
    }
}

fn enumeration(container: &Container<'_>, variants: &[Variant<'_>]) -> TokenStream {
    let name = container.ident.to_string();
    let count = variants.len() as u32;
    let fingerprint_variants = variants.iter().map(|variant| {
        let variant_name = variant.ident.to_string();
        let fields = fingerprint_fields(container, variant.style, &variant.fields);
        quote!(.str(#variant_name) #fields)
    });
    let min_lens = variants
        .iter()
        .map(|variant| min_len(container, &variant.fields));

    let mut len_arms = Vec::new();
    let mut encode_arms = Vec::new();
    let mut decode_arms = Vec::new();
    let mut in_place_arms = Vec::new();
    for (index, variant) in variants.iter().enumerate() {
        let tag = index as u32;
        let variant_ident = variant.ident;
        let bindings = bindings(&variant.fields);
        let pattern = shape(
            variant.style,
            &variant.fields,
            &bindings
                .iter()
                .map(ToTokens::to_token_stream)
                .collect::<Vec<_>>(),
        );
        let add_lens = add_lens(&variant.fields, &bindings);
        let encode_fields = encode_fields(&variant.fields, &bindings);
        let context = format!("{name}::{variant_ident}");
        let constructor = shape(
            variant.style,
            &variant.fields,
            &decode_fields(&variant.fields, &context),
        );
        len_arms.push(quote! {
            Self::#variant_ident #pattern => {
                let mut __end = offset + 4;
                #add_lens
                __end - offset
            }
        });
        encode_arms.push(quote! {
            Self::#variant_ident #pattern => {
                encoder.put_u32(#tag);
                #encode_fields
            }
        });
        decode_arms.push(quote! {
            #tag => ::core::result::Result::Ok(Self::#variant_ident #constructor),
        });
        let decode_fields_into = decode_fields_into(&variant.fields, &bindings, &context);
        in_place_arms.push(quote! {
            Self::#variant_ident #pattern if __tag == #tag => {
                #decode_fields_into
                return ::core::result::Result::Ok(());
            }
        });
    }
    // `match *self {}` for an enum without variants, default binding modes otherwise.
    let scrutinee = if variants.is_empty() {
        quote!(*self)
    } else {
        quote!(self)
    };
    // The same variant decodes into its fields; another one replaces the value. An enum
    // without variants has no value to decode into: the default is as good.
    let decode_into = (!variants.is_empty()).then(|| {
        quote! {
            fn decode_into(
                &mut self,
                decoder: &mut _tandem::__private::Decoder<'_>,
            ) -> ::core::result::Result<(), _tandem::__private::DecodeError> {
                decoder.nested(|decoder| {
                    let __offset = decoder.position();
                    let __tag = _tandem::__private::decode_tag(decoder, #name)?;
                    match self {
                        #(#in_place_arms)*
                        _ => {}
                    }
                    *self = match __tag {
                        #(#decode_arms)*
                        __tag => ::core::result::Result::Err(
                            _tandem::__private::invalid_variant(__offset, #name, #count, __tag),
                        ),
                    }?;
                    ::core::result::Result::Ok(())
                })
            }
        }
    });
    quote! {
        const FINGERPRINT: ::core::primitive::u64 = _tandem::__private::Fingerprint::new("enum")
            .str(#name)
            .u64(#count as ::core::primitive::u64)
            #(#fingerprint_variants)*
            .finish();
        const MIN_ENCODED_LEN: ::core::primitive::usize =
            4usize.saturating_add(_tandem::__private::min_len(&[#(#min_lens),*]));

        #[inline]
        fn encoded_len(&self, offset: ::core::primitive::usize) -> ::core::primitive::usize {
            match #scrutinee {
                #(#len_arms)*
            }
        }

        #[inline]
        fn encode(&self, encoder: &mut _tandem::__private::Encoder<'_>) {
            match #scrutinee {
                #(#encode_arms)*
            }
        }

        fn decode(
            decoder: &mut _tandem::__private::Decoder<'_>,
        ) -> ::core::result::Result<Self, _tandem::__private::DecodeError> {
            decoder.nested(|decoder| {
                let __offset = decoder.position();
                match _tandem::__private::decode_tag(decoder, #name)? {
                    #(#decode_arms)*
                    __tag => ::core::result::Result::Err(
                        _tandem::__private::invalid_variant(__offset, #name, #count, __tag),
                    ),
                }
            })
        }

        #decode_into
    }
}
