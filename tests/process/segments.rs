//! Segment limits: a refused memory reservation and `Options::max_buffer_bytes`.

use crate::support;

use std::process::Command;

use tandem::{BufferError, ChannelError, ControllerChannel, Options};

/// Runs under a file-size limit of 2 MiB (`ulimit -f`), which the kernel applies to a
/// memfd's growth as it applies a memory limit: the reservation fails.
#[test]
#[ignore = "runs under `ulimit -f`, started by a_refused_reservation_is_a_typed_error"]
fn limited_entry() {
    if support::role().as_deref() != Some("limited") {
        return;
    }
    let mut channel = ControllerChannel::create("full", 0, Options::default()).unwrap();
    channel.to_worker().write(&[7u8; 1000]).unwrap();
    let error = channel.to_worker().write_with(8 << 20, |_| ()).unwrap_err();
    println!("{error}");
    match &error {
        BufferError::OutOfMemory { name, size, .. } => {
            assert_eq!(name, "tandem:full:0:c2w");
            assert_eq!(*size, 8 << 20);
        }
        other => panic!("expected an out-of-memory error, got {other}"),
    }
    assert!(error.to_string().contains("memory limit"), "{error}");
    // Nothing was lost: the buffer keeps its size and a message that fits still works.
    assert_eq!(channel.to_worker().capacity(), 4096);
    channel.to_worker().write(&[7u8; 4000]).unwrap();
}

#[test]
fn a_refused_reservation_is_a_typed_error() {
    let exe = std::env::current_exe().unwrap();
    // SIGXFSZ ignored: the kernel then reports the limit as an error (EFBIG).
    let script = r#"trap '' XFSZ; ulimit -f 4096 && exec "$0" --ignored --exact segments::limited_entry --nocapture --test-threads=1"#;
    let output = Command::new("sh")
        .args(["-c", script])
        .arg(exe)
        .env(support::ROLE_ENV, "limited")
        .output()
        .expect("sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("cannot reserve 8388608 bytes"), "{stdout}");
}

#[test]
fn oversized_messages_are_refused_before_any_allocation() {
    let mut channel =
        ControllerChannel::create("cap", 0, Options::default().max_buffer_bytes(1000)).unwrap();
    let error = channel.to_worker().write(&[0u8; 1001]).unwrap_err();
    assert!(
        matches!(
            error,
            BufferError::TooLarge {
                len: 1001,
                max: 1000,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("max_buffer_bytes"), "{error}");
    assert_eq!(
        channel.to_worker().capacity(),
        1000,
        "nothing was reserved beyond the first page, usable up to the limit"
    );
    channel.to_worker().write(&[0u8; 1000]).unwrap();
    assert_eq!(
        channel.to_worker().capacity(),
        1000,
        "growth stops at the limit"
    );
    support::assert_nothing_in_dev_shm(std::process::id());
}

#[test]
fn invalid_base_names_are_refused() {
    for base in ["", "has/slash", "a b", "x".repeat(33).as_str()] {
        let error = ControllerChannel::create(base, 0, Options::default()).unwrap_err();
        assert!(
            matches!(error, ChannelError::InvalidName { .. }),
            "{base:?}: {error}"
        );
    }
}
