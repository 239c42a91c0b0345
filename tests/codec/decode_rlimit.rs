//! A hostile 1 MiB recursive payload decoded under an address-space limit (`ulimit -v`): the
//! decode must return a typed error and the process must exit normally, while a valid 1 MiB
//! tree decodes under the same limit.
//!
//! Each case runs in a child process (this test binary re-executed with the case's name in
//! [`CASE_ENV`]) whose `RLIMIT_AS` is set before it starts: an allocation the limit refuses
//! there aborts the child (SIGABRT, exit status 134 from a shell) instead of failing one test
//! among many.

use std::os::unix::process::CommandExt;
use std::process::{Command, Output};
use tandem::{decode_from, encode_to_vec, DecodeError, Payload};

/// The environment variable that names the case a re-executed child runs.
const CASE_ENV: &str = "TANDEM_DECODE_RLIMIT_CASE";

/// `ulimit -v 200000`: the address-space limit of the children, in bytes.
const ADDRESS_SPACE: u64 = 200_000 * 1024;

/// The size of every input.
const MIB: usize = 1 << 20;

/// What a child prints once its case passed, so that the parent knows the case ran.
const DONE: &str = "decode-rlimit-case-done";

/// A recursive payload through `Vec<Self>`: at least 8 bytes (its length prefix) per tree.
#[derive(Payload, Debug, PartialEq)]
struct Tree {
    children: Vec<Tree>,
}

/// A recursive payload through `Vec<Self>` and `Option<Box<Self>>`: at least 9 bytes.
#[derive(Payload, Debug, PartialEq)]
struct Labelled {
    children: Vec<Labelled>,
    label: Option<Box<Self>>,
}

/// `levels` nested length prefixes, each announcing `announce(bytes left after it)`
/// children, then zeros up to `len` bytes (each zero prefix an empty tree).
fn nested_prefixes(levels: usize, len: usize, announce: impl Fn(usize) -> u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len);
    for level in 0..levels {
        let left = len.saturating_sub(8 * (level + 1));
        bytes.extend_from_slice(&announce(left).to_le_bytes());
    }
    bytes.resize(len, 0);
    bytes
}

/// A valid tree that encodes to about 1 MiB: 128 subtrees of 1023 leaves each.
fn valid_tree() -> Tree {
    let subtree = || Tree {
        children: (0..1023).map(|_| Tree { children: vec![] }).collect(),
    };
    Tree {
        children: (0..128).map(|_| subtree()).collect(),
    }
}

/// A valid labelled tree that encodes to about 1 MiB: 100 subtrees of 1160 leaves each,
/// every subtree labelled with a leaf.
fn valid_labelled() -> Labelled {
    let leaf = || Labelled {
        children: vec![],
        label: None,
    };
    let subtree = || Labelled {
        children: (0..1160).map(|_| leaf()).collect(),
        label: Some(Box::new(leaf())),
    };
    Labelled {
        children: (0..100).map(|_| subtree()).collect(),
        label: None,
    }
}

/// Decodes `bytes` as `T` and checks that the input is refused with the typed error
/// `expected` accepts: a limit of the decoder, not the allocator's failure.
fn refused<T: Payload + std::fmt::Debug>(bytes: &[u8], expected: fn(&DecodeError) -> bool) {
    let error = decode_from::<T>(bytes).expect_err("the input is not a valid value");
    println!("refused: {}", error.root_cause());
    assert!(expected(error.root_cause()), "{error}");
}

/// The length prefix announces more children than the bytes left can hold: `Tree` counts
/// at least 8 bytes per child, `Labelled` 9.
fn too_long(error: &DecodeError) -> bool {
    matches!(error, DecodeError::LengthTooLarge { .. })
}

/// As many children as the bytes left can hold, at every level: the memory budget stops it.
fn over_memory_budget(error: &DecodeError) -> bool {
    matches!(error, DecodeError::MemoryBudgetExceeded { .. })
}

/// Encodes `value`, checks its size, and decodes it back.
fn decodes<T: Payload + PartialEq + std::fmt::Debug>(value: &T) {
    let bytes = encode_to_vec(value);
    assert!(
        (MIB - 64 * 1024..=MIB + 64 * 1024).contains(&bytes.len()),
        "the valid value encodes to {} bytes, not about 1 MiB",
        bytes.len()
    );
    let decoded = decode_from::<T>(&bytes).expect("a valid value decodes");
    assert!(decoded == *value, "the decoded value differs");
}

/// Runs `case` in this process: the child's half.
fn run_case(case: &str) {
    match case {
        "tree_a_child_per_byte_left" => {
            refused::<Tree>(&nested_prefixes(256, MIB, |left| left as u64), too_long)
        }
        "tree_a_child_per_8_bytes_left" => refused::<Tree>(
            &nested_prefixes(256, MIB, |left| (left / 8) as u64),
            over_memory_budget,
        ),
        "labelled_a_child_per_byte_left" => {
            refused::<Labelled>(&nested_prefixes(256, MIB, |left| left as u64), too_long)
        }
        "labelled_a_child_per_9_bytes_left" => refused::<Labelled>(
            &nested_prefixes(256, MIB, |left| (left / 9) as u64),
            over_memory_budget,
        ),
        "valid_tree" => decodes(&valid_tree()),
        "valid_labelled" => decodes(&valid_labelled()),
        other => panic!("unknown case {other}"),
    }
    println!("{DONE}");
}

/// Runs `case` in a child process limited to [`ADDRESS_SPACE`] bytes of address space.
fn spawn_case(case: &str) -> Output {
    let mut command = Command::new(std::env::current_exe().expect("test binary path"));
    command
        .args([
            "--exact",
            "decode_rlimit::hostile_trees_fail_under_an_address_space_limit_and_valid_ones_decode",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CASE_ENV, case);
    let limit = libc::rlimit {
        rlim_cur: ADDRESS_SPACE,
        rlim_max: ADDRESS_SPACE,
    };
    // SAFETY: the closure runs in the forked child before `exec` and only calls `setrlimit`,
    // which is async-signal-safe, on a local it owns.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    command.output().expect("run the test binary as a child")
}

#[test]
fn hostile_trees_fail_under_an_address_space_limit_and_valid_ones_decode() {
    if let Ok(case) = std::env::var(CASE_ENV) {
        run_case(&case);
        return;
    }
    let mut failures = Vec::new();
    for case in [
        "tree_a_child_per_byte_left",
        "tree_a_child_per_8_bytes_left",
        "labelled_a_child_per_byte_left",
        "labelled_a_child_per_9_bytes_left",
        "valid_tree",
        "valid_labelled",
    ] {
        let output = spawn_case(case);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() || !stdout.contains(DONE) {
            failures.push(format!(
                "{case}: {} under `ulimit -v {}`\n{stdout}{stderr}",
                output.status,
                ADDRESS_SPACE / 1024
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
