//! Segment creation limits: a full `/dev/shm` and `Options::max_buffer_bytes`.

mod support;

use std::process::Command;

use tandem::{BufferError, ChannelError, ControllerChannel, Options};

/// Runs inside a private mount namespace whose `/dev/shm` is a 256 KiB tmpfs.
#[test]
#[ignore = "runs inside `unshare --mount`, started by full_dev_shm_is_an_error_at_creation"]
fn tiny_shm_entry() {
    if support::role().as_deref() != Some("tiny_shm") {
        return;
    }
    let mut channel = ControllerChannel::create("full", 0, Options::default()).unwrap();
    let error = channel.to_worker().write(&vec![1u8; 1 << 20]).unwrap_err();
    println!("{error}");
    match &error {
        BufferError::Segment {
            name, size, source, ..
        } => {
            assert!(name.ends_with(".c2w.0"), "{name}");
            assert_eq!(*size, 1 << 20);
            assert_eq!(source.raw_os_error(), Some(libc::ENOSPC));
        }
        other => panic!("expected a segment error, got {other}"),
    }
    assert!(error.to_string().contains("/dev/shm is full"), "{error}");
    // Nothing was lost: the failed segment is gone and a message that fits still works.
    assert_eq!(
        std::fs::read_dir("/dev/shm").unwrap().count(),
        1,
        "only the control block remains"
    );
    channel.to_worker().write(&[7u8; 1000]).unwrap();
}

#[test]
fn full_dev_shm_is_an_error_at_creation() {
    let exe = std::env::current_exe().unwrap();
    let script = r#"mount -t tmpfs -o size=256k tmpfs /dev/shm && exec "$0" --ignored --exact tiny_shm_entry --nocapture --test-threads=1"#;
    let output = Command::new("unshare")
        .args(["--mount", "sh", "-c", script])
        .arg(exe)
        .env(support::ROLE_ENV, "tiny_shm")
        .output()
        .expect("unshare (util-linux) runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("/dev/shm is full") && stdout.contains("1048576 bytes"),
        "{stdout}"
    );
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
    let token = channel.token().to_owned();
    let c2w = support::segments_containing(&format!("{token}.c2w"));
    assert!(c2w.is_empty(), "a segment was created: {c2w:?}");
    channel.to_worker().write(&[0u8; 1000]).unwrap();
    assert_eq!(channel.to_worker().capacity(), 1000);
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
