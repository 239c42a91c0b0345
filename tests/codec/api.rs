//! The crate's root, pinned: what `tandem::` re-exports (through the runtime's root) and its
//! public modules, read from the sources, must be exactly `api/root.txt`, with at most
//! [`MAX_ROOT_REEXPORTS`] re-exports. A change to the root is then a change to that file too,
//! reviewed as such (and recorded in the CHANGELOG). Items behind `#[doc(hidden)]` (`__private`)
//! are not part of the surface.

use std::fs;
use std::path::Path;

use syn::{Attribute, Item, UseTree, Visibility};

/// crossbeam-channel's root holds 25 items; tandem's a few more, for its two sides.
const MAX_ROOT_REEXPORTS: usize = 35;

fn hidden(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("doc")
            && attr
                .parse_args::<syn::Ident>()
                .is_ok_and(|ident| ident == "hidden")
    })
}

/// ` [cfg(...)]` for an item compiled only under a condition, empty otherwise.
fn condition(attrs: &[Attribute]) -> String {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .map(|attr| {
            let tokens = match &attr.meta {
                syn::Meta::List(list) => list.tokens.to_string(),
                _ => String::new(),
            };
            format!(" [cfg({tokens})]")
        })
        .collect()
}

/// The names a `pub use` brings into scope, with the source crate when it is not the runtime.
fn leaves(tree: &UseTree, prefix: &str, out: &mut Vec<(String, String)>) {
    match tree {
        UseTree::Path(path) => {
            let prefix = if prefix.is_empty() {
                path.ident.to_string()
            } else {
                format!("{prefix}::{}", path.ident)
            };
            leaves(&path.tree, &prefix, out);
        }
        UseTree::Name(name) => out.push((prefix.to_owned(), name.ident.to_string())),
        UseTree::Rename(rename) => out.push((prefix.to_owned(), rename.rename.to_string())),
        UseTree::Glob(_) => out.push((prefix.to_owned(), "*".to_owned())),
        UseTree::Group(group) => {
            for tree in &group.items {
                leaves(tree, prefix, out);
            }
        }
    }
}

/// The lines of `api/root.txt` for the crate root in `file`: `use <name>` per re-export,
/// `mod <name>` per public module, each with its `cfg` condition. A glob of the runtime's
/// root is expanded from `runtime/src/lib.rs`.
fn root_lines(file: &Path) -> Vec<String> {
    let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut lines = Vec::new();
    for item in parsed.items {
        match item {
            Item::Use(item)
                if matches!(item.vis, Visibility::Public(_)) && !hidden(&item.attrs) =>
            {
                let cfg = condition(&item.attrs);
                let mut names = Vec::new();
                leaves(&item.tree, "", &mut names);
                for (prefix, name) in names {
                    if name == "*" {
                        assert_eq!(
                            prefix, "tandem_runtime",
                            "only the runtime's root is globbed"
                        );
                        let runtime =
                            Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime/src/lib.rs");
                        lines.extend(root_lines(&runtime));
                    } else if prefix == "tandem_macros" {
                        lines.push(format!("use {name} (derive){cfg}"));
                    } else {
                        lines.push(format!("use {name}{cfg}"));
                    }
                }
            }
            Item::Mod(item)
                if matches!(item.vis, Visibility::Public(_)) && !hidden(&item.attrs) =>
            {
                lines.push(format!("mod {}{}", item.ident, condition(&item.attrs)));
            }
            _ => {}
        }
    }
    lines
}

#[test]
fn the_root_is_the_committed_list() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = root_lines(&root.join("src/lib.rs"));
    found.sort();
    let found = found.join("\n") + "\n";
    let committed = fs::read_to_string(root.join("api/root.txt")).expect("api/root.txt");
    let committed: String = committed
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(
        found == committed,
        "the crate's root changed: update api/root.txt (and the CHANGELOG) if that is meant; \
         its list is now:\n{found}"
    );
    let reexports = found
        .lines()
        .filter(|line| line.starts_with("use "))
        .count();
    assert!(
        reexports <= MAX_ROOT_REEXPORTS,
        "{reexports} root re-exports, at most {MAX_ROOT_REEXPORTS}: move the ones users rarely \
         name into their module"
    );
}
