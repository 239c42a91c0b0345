//! Compile-time behaviour of the derives: the shapes they accept and the ones they reject.
//!
//! Accepted shapes (`tests/ui/pass/*.rs`) are modules of this binary: each compiles with it
//! and its `main` runs as a test. A case that needs a crate root of its own (a `crate::` path)
//! is in `tests/ui/pass_alone/` and is compiled alone, like the rejected ones, expecting no
//! error.
//!
//! Rejected shapes (`tests/ui/fail/*.rs`) are compiled alone by rustc (`--emit=metadata`: type
//! checking without code generation) against the facade this binary was built with, and
//! their errors are read from rustc's JSON output. The expected errors are written in the case
//! itself, as rustc's own test suite writes them:
//!
//! ```text
//!     value: std::sync::Mutex<u32>,
//!     //~^ ERROR[E0277] Mutex<u32>` cannot cross a process boundary: it does not implement `Payload`
//!     //~| NOTE derive it with `#[derive(tandem::Payload)]`
//! ```
//!
//! `//~` names the line it is on, each `^` one line further up, `//~|` the line of the
//! annotation before it (a second error there, or more about the same error), `//~?` an error
//! whose primary span is outside the case. `ERROR` (with the code in brackets when rustc
//! gives one, none for the derives' own `compile_error!`s) starts an error: its message must
//! contain the text. `NOTE`, `HELP` and `LABEL` after it add a note, a help or a span label
//! that error must carry, again by containment. Every error must be annotated, so a cascade of
//! secondary errors fails the case.
//!
//! Why not compare the whole rendered output (trybuild's `.stderr` files): what rustc adds
//! around an error (the lists of "the following other types implement trait", the notes that
//! point into the runtime's sources, the wording of a query cycle, the layout of help
//! messages) changes between compiler versions, and those files then fail on a compiler
//! update without anything of ours having changed. The derives' own messages carry what a
//! user needs (spanned `compile_error!`s, `#[diagnostic::on_unimplemented]` on the traits a
//! user's types must implement), so the checks here are the error's code, our message and
//! notes, and the line the error points at; for the few errors whose text is rustc's
//! (mismatched types, a cycle), only the part that rustc has kept stable for years.

mod json;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

mod pass;

/// The `.rs` files of `dir` (relative to the package), sorted, as paths relative to it.
fn cases_in(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
        .unwrap_or_else(|error| panic!("reading {dir}: {error}"))
        .filter_map(Result::ok)
        .map(|entry| Path::new(dir).join(entry.file_name()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    cases.sort();
    cases
}

#[test]
fn every_pass_case_is_a_module() {
    let files: Vec<String> = cases_in("tests/ui/pass")
        .iter()
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut modules: Vec<&str> = pass::CASES.to_vec();
    modules.sort_unstable();
    assert_eq!(
        files, modules,
        "every file of tests/ui/pass must be listed in `cases!` of tests/codec/ui/mod.rs"
    );
}

#[test]
fn rejected_shapes_fail_with_our_messages() {
    let mut cases = cases_in("tests/ui/fail");
    cases.extend(cases_in("tests/ui/pass_alone"));
    let rustc = Rustc::find();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let Some(case) = cases.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return;
                };
                if let Err(failure) = check_case(&rustc, case) {
                    failures.lock().unwrap().push(failure);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// How to compile a case against the facade this binary links.
struct Rustc {
    program: PathBuf,
    /// `target/<profile>/deps`: this binary's dependencies.
    deps: PathBuf,
    /// The facade's library in `deps`.
    facade: PathBuf,
    /// Where the cases' metadata goes.
    out: PathBuf,
}

impl Rustc {
    fn find() -> Rustc {
        // The compiler of the toolchain whose cargo runs this test: `$RUSTC` if set, else the
        // `rustc` beside `$CARGO` (a rustup proxy on `PATH` might pick another toolchain).
        let program = std::env::var_os("RUSTC")
            .map(PathBuf::from)
            .or_else(|| {
                let cargo = PathBuf::from(std::env::var_os("CARGO")?);
                let rustc = cargo.with_file_name("rustc");
                rustc.is_file().then_some(rustc)
            })
            .unwrap_or_else(|| PathBuf::from("rustc"));
        let exe = std::env::current_exe().expect("test binary path");
        let deps = exe.parent().expect("the deps directory").to_path_buf();
        // The newest build of the facade: cargo built it for this binary, just before (older
        // ones, of other feature sets, are left from earlier builds). rustc finds the runtime
        // and the derive among the dependencies by the hashes the facade records.
        let facade = std::fs::read_dir(&deps)
            .expect("reading the deps directory")
            .filter_map(Result::ok)
            .filter(|entry| {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                name.starts_with("libtandem-") && name.ends_with(".rlib")
            })
            .max_by_key(|entry| entry.metadata().and_then(|m| m.modified()).ok())
            .map(|entry| entry.path())
            .unwrap_or_else(|| panic!("no libtandem-*.rlib in {}", deps.display()));
        let out =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ui-{}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        Rustc {
            program,
            deps,
            facade,
            out,
        }
    }
}

impl Drop for Rustc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.out);
    }
}

/// An error rustc reported.
#[derive(Debug)]
struct Reported {
    /// The line of its primary span in the case (through macro expansions), if there.
    line: Option<u64>,
    code: Option<String>,
    message: String,
    /// Its notes and helps, as `(level, message)`.
    children: Vec<(String, String)>,
    /// The labels of its spans.
    labels: Vec<String>,
    rendered: String,
}

/// An error a case expects.
#[derive(Debug)]
struct Expected {
    /// The annotation's own line, for messages.
    at: usize,
    /// The line the error must point at; `None` for `//~?`.
    line: Option<u64>,
    code: Option<String>,
    message: String,
    /// `(kind, text)`: `note`, `help` or `label`.
    more: Vec<(String, String)>,
}

/// Compiles `case` and compares its errors with its annotations; the failure, explained.
fn check_case(rustc: &Rustc, case: &Path) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(root.join(case))
        .map_err(|error| format!("{}: {error}", case.display()))?;
    let expected = annotations(&source).map_err(|error| format!("{}: {error}", case.display()))?;
    let fail_case = case.starts_with("tests/ui/fail");
    if fail_case && expected.is_empty() {
        return Err(format!(
            "{}: a rejected shape without `//~ ERROR` annotations",
            case.display()
        ));
    }
    let name = case.file_stem().unwrap().to_string_lossy().into_owned();
    let output = Command::new(&rustc.program)
        .current_dir(root)
        .args(["--edition=2021", "--crate-type=bin", "--emit=metadata"])
        .args(["--error-format=json", "--crate-name", &name])
        .arg("--out-dir")
        .arg(&rustc.out)
        .arg("-L")
        .arg(format!("dependency={}", rustc.deps.display()))
        .arg("--extern")
        .arg(format!("tandem={}", rustc.facade.display()))
        .arg(case)
        .output()
        .map_err(|error| format!("running {}: {error}", rustc.program.display()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut reported = Vec::new();
    for line in stderr.lines().filter(|line| line.starts_with('{')) {
        let diagnostic = json::parse(line).map_err(|error| format!("{error} in {line}"))?;
        if diagnostic.get("level").as_str() != Some("error") {
            continue;
        }
        let message = diagnostic.get("message").as_str().unwrap_or_default();
        if message.starts_with("aborting due to") {
            continue;
        }
        reported.push(Reported {
            line: primary_line(&diagnostic, case),
            code: diagnostic
                .get("code")
                .get("code")
                .as_str()
                .map(str::to_owned),
            message: message.to_owned(),
            children: diagnostic
                .get("children")
                .items()
                .iter()
                .map(|child| {
                    (
                        child.get("level").as_str().unwrap_or_default().to_owned(),
                        child.get("message").as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            labels: diagnostic
                .get("spans")
                .items()
                .iter()
                .filter_map(|span| span.get("label").as_str().map(str::to_owned))
                .collect(),
            rendered: diagnostic
                .get("rendered")
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        });
    }
    if reported.is_empty() && !output.status.success() {
        return Err(format!(
            "{}: rustc failed without errors ({}):\n{stderr}",
            case.display(),
            output.status
        ));
    }
    let mut unmatched: Vec<Option<Reported>> = reported.into_iter().map(Some).collect();
    let mut missing = Vec::new();
    for want in &expected {
        let found = unmatched
            .iter_mut()
            .find(|got| got.as_ref().is_some_and(|got| matches(want, got)));
        match found {
            Some(slot) => *slot = None,
            None => missing.push(want),
        }
    }
    let unexpected: Vec<Reported> = unmatched.into_iter().flatten().collect();
    if missing.is_empty() && unexpected.is_empty() {
        return Ok(());
    }
    let mut text = format!("{}:", case.display());
    for want in missing {
        text += &format!(
            "\n  expected (annotation on line {}): line {}, error{}: …{}… {:?}",
            want.at,
            want.line.map_or("?".to_owned(), |line| line.to_string()),
            want.code
                .as_ref()
                .map_or(String::new(), |code| format!("[{code}]")),
            want.message,
            want.more
        );
    }
    for got in &unexpected {
        text += &format!(
            "\n  not expected: line {}, error{}: {}\n{}",
            got.line.map_or("?".to_owned(), |line| line.to_string()),
            got.code
                .as_ref()
                .map_or(String::new(), |code| format!("[{code}]")),
            got.message,
            got.rendered
        );
    }
    Err(text)
}

fn matches(want: &Expected, got: &Reported) -> bool {
    want.line == got.line
        && want.code == got.code
        && got.message.contains(&want.message)
        && want.more.iter().all(|(kind, text)| match kind.as_str() {
            "label" => got.labels.iter().any(|label| label.contains(text)),
            level => got
                .children
                .iter()
                .any(|(child, message)| child == level && message.contains(text)),
        })
}

/// The line in `case` of the diagnostic's primary span, following macro expansions back to
/// their call site in the case.
fn primary_line(diagnostic: &json::Value, case: &Path) -> Option<u64> {
    let case = case.to_str()?;
    let mut span = diagnostic
        .get("spans")
        .items()
        .iter()
        .find(|span| span.get("is_primary").as_bool() == Some(true))?;
    loop {
        if span.get("file_name").as_str() == Some(case) {
            return span.get("line_start").as_u64();
        }
        span = match span.get("expansion").get("span") {
            json::Value::Null => return None,
            call_site => call_site,
        };
    }
}

/// The `//~` annotations of a case (see the module docs).
fn annotations(source: &str) -> Result<Vec<Expected>, String> {
    let mut expected: Vec<Expected> = Vec::new();
    let mut previous_line = None;
    for (index, line) in source.lines().enumerate() {
        let Some(at) = line.find("//~") else {
            continue;
        };
        let number = index as u64 + 1;
        let mut rest = &line[at + 3..];
        let target = if let Some(after) = rest.strip_prefix('|') {
            rest = after;
            previous_line
                .ok_or_else(|| format!("line {number}: `//~|` without an annotation before"))?
        } else if let Some(after) = rest.strip_prefix('?') {
            rest = after;
            None
        } else {
            let up = rest.len() - rest.trim_start_matches('^').len();
            rest = &rest[up..];
            Some(
                number
                    .checked_sub(up as u64)
                    .filter(|line| *line > 0)
                    .ok_or_else(|| format!("line {number}: points above the file"))?,
            )
        };
        previous_line = Some(target);
        let rest = rest.trim();
        let (kind, text) = rest.split_once(' ').unwrap_or((rest, ""));
        let text = text.trim().to_owned();
        if text.is_empty() {
            return Err(format!("line {number}: an annotation without text"));
        }
        match kind {
            "NOTE" | "HELP" | "LABEL" => {
                let error = expected
                    .last_mut()
                    .filter(|error| error.line == target)
                    .ok_or_else(|| {
                        format!("line {number}: `{kind}` must follow its `ERROR`, on the same line")
                    })?;
                error.more.push((kind.to_ascii_lowercase(), text));
            }
            _ => {
                let code = match kind {
                    "ERROR" => None,
                    _ => Some(
                        kind.strip_prefix("ERROR[")
                            .and_then(|code| code.strip_suffix(']'))
                            .ok_or_else(|| {
                                format!("line {number}: expected ERROR, ERROR[Exxxx], NOTE, HELP or LABEL, found `{kind}`")
                            })?
                            .to_owned(),
                    ),
                };
                expected.push(Expected {
                    at: index + 1,
                    line: target,
                    code,
                    message: text,
                    more: Vec::new(),
                });
            }
        }
    }
    Ok(expected)
}

#[test]
fn annotations_name_their_lines() {
    let source = "\
struct A; //~ ERROR[E0277] first
//~^ NOTE a note
  field: u32,
//~^ ERROR second
//~| LABEL here
//~? ERROR[E0391] cycle
";
    let expected = annotations(source).unwrap();
    let summary: Vec<_> = expected
        .iter()
        .map(|e| (e.line, e.code.as_deref(), e.message.as_str(), e.more.len()))
        .collect();
    assert_eq!(
        summary,
        [
            (Some(1), Some("E0277"), "first", 1),
            (Some(3), None, "second", 1),
            (None, Some("E0391"), "cycle", 0),
        ]
    );
    assert!(annotations("//~^ ERROR above the file").is_err());
    assert!(annotations("x //~ NOTE without an error").is_err());
    assert!(annotations("x //~ WARNING no").is_err());
}
