//! The mechanical check of this module's claim: no `unsafe` (block, function, impl or trait)
//! appears in the crate's sources outside `sys/`. The code above `sys` reaches raw memory,
//! signal arguments and system calls only through the safe APIs here, whose soundness is
//! argued next to each `unsafe` they contain.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively, except those under `skip`.
fn rust_files(dir: &Path, skip: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {dir:?}: {e}"));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path == skip {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, skip, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// `source` with its comments and its string and character literals replaced by spaces
/// (line breaks kept, so line numbers stay right): what is left is code.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        if rest.starts_with(&['/', '/']) {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if rest.starts_with(&['/', '*']) {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i..].starts_with(&['/', '*']) {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i..].starts_with(&['*', '/']) {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(rest) {
            // r"..", r#".."#, br"..": no escapes; ends at `"` followed by the same hashes.
            let open = rest.iter().position(|&c| c == '"').unwrap_or(0) + 1;
            for _ in 0..open {
                out.push(' ');
            }
            i += open;
            while i < chars.len() {
                let closes = chars[i] == '"'
                    && chars.len() - i > hashes
                    && chars[i + 1..=i + hashes].iter().all(|&c| c == '#');
                if closes {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    i += hashes + 1;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if chars[i] == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    out.push(' ');
                    i += 1;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if chars[i] == '\'' && is_char_literal(rest) {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// The number of `#` of a raw string literal starting at `rest[0]`, or `None` if none does.
fn raw_string_start(rest: &[char]) -> Option<usize> {
    let after_prefix = match rest {
        ['r', ..] => &rest[1..],
        ['b' | 'c', 'r', ..] => &rest[2..],
        _ => return None,
    };
    let hashes = after_prefix.iter().take_while(|&&c| c == '#').count();
    (after_prefix.get(hashes) == Some(&'"')).then_some(hashes)
}

/// Whether the `'` at `rest[0]` opens a character literal (`'a'`, `'\n'`) rather than a
/// lifetime or a label (`'a`).
fn is_char_literal(rest: &[char]) -> bool {
    matches!(rest, [_, '\\', ..] | [_, _, '\'', ..])
}

/// The lines of `code` on which the keyword `unsafe` appears, numbered from 1.
fn unsafe_lines(code: &str) -> Vec<usize> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    code.lines()
        .enumerate()
        .filter(|(_, line)| {
            line.match_indices("unsafe").any(|(at, word)| {
                let before = line[..at].chars().next_back();
                let after = line[at + word.len()..].chars().next();
                !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
            })
        })
        .map(|(number, _)| number + 1)
        .collect()
}

#[test]
fn no_unsafe_outside_sys() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &src.join("sys"), &mut files);
    assert!(
        files.len() > 20,
        "found only {} source files under {src:?}",
        files.len()
    );
    let mut found = Vec::new();
    for file in &files {
        let source =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {file:?}: {e}"));
        for line in unsafe_lines(&code_only(&source)) {
            let shown = file.strip_prefix(&src).unwrap_or(file);
            found.push(format!("src/{}:{line}", shown.display()));
        }
    }
    assert!(
        found.is_empty(),
        "`unsafe` outside runtime/src/sys (move it behind a safe `sys` API): {found:#?}"
    );
}

#[test]
fn the_scan_sees_code_and_skips_comments_and_literals() {
    let source = r####"
        // an unsafe comment
        /* a block /* nested unsafe */ still comment unsafe */
        let s = "unsafe \" unsafe";
        let r = r#"unsafe "quoted" unsafe"#;
        let c = '"'; let e = '\''; fn f<'a>(x: &'a u8) {}
        let not_a_keyword = unsafe_thing + is_unsafe;
        let real = unsafe { f() };
        unsafe impl Send for X {}
    "####;
    assert_eq!(unsafe_lines(&code_only(source)), vec![8, 9]);
}
