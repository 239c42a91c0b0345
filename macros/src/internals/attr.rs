//! `#[payload(...)]` attributes.

use super::ctxt::Ctxt;
use syn::{Attribute, LitStr, Path};

/// Container attributes of `#[derive(Payload)]`.
#[derive(Default)]
pub(crate) struct ContainerAttrs {
    /// `#[payload(pod)]`, keeping the `pod` path for spans.
    pub(crate) pod: Option<Path>,
    /// `#[payload(crate = "path")]`.
    pub(crate) crate_path: Option<Path>,
}

impl ContainerAttrs {
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut result = ContainerAttrs::default();
        for attr in payload_attrs(attrs) {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("pod") {
                    if result.pod.is_some() {
                        cx.error_spanned_by(&meta.path, "duplicate `payload` attribute `pod`");
                    }
                    result.pod = Some(meta.path.clone());
                } else if meta.path.is_ident("crate") {
                    let literal: LitStr = meta.value()?.parse()?;
                    match literal.parse::<Path>() {
                        Ok(path) if result.crate_path.is_none() => result.crate_path = Some(path),
                        Ok(_) => {
                            cx.error_spanned_by(&meta.path, "duplicate `payload` attribute `crate`")
                        }
                        Err(_) => cx.error_spanned_by(
                            &literal,
                            format!(
                                "`crate` expects a path such as \"tandem\", found {:?}",
                                literal.value()
                            ),
                        ),
                    }
                } else {
                    cx.error_spanned_by(
                        &meta.path,
                        format!(
                            "unknown `payload` attribute `{}`: expected `pod` or `crate = \"...\"`",
                            path_to_string(&meta.path)
                        ),
                    );
                    // Skip a value so that parsing can go on to the next key.
                    if meta.input.peek(syn::Token![=]) {
                        let _: syn::Expr = meta.value()?.parse()?;
                    }
                }
                Ok(())
            });
            if let Err(error) = parsed {
                cx.syn_error(error);
            }
        }
        result
    }
}

/// Fields and variants take no `payload` attributes: report any as unknown.
pub(crate) fn reject_member_attrs(cx: &Ctxt, attrs: &[Attribute], what: &str) {
    for attr in payload_attrs(attrs) {
        cx.error_spanned_by(
            attr,
            format!(
                "unknown `payload` attribute on a {what}: `payload` attributes belong on the type"
            ),
        );
    }
}

fn payload_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|attr| attr.path().is_ident("payload"))
}

pub(crate) fn path_to_string(path: &Path) -> String {
    path.segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}
