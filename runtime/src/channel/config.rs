//! The settings that concern both ends of a channel, written once by the controller and read
//! once by the worker (iceoryx2's static service configuration, in small).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::control::ConfigSection;
use super::error::Readable;
use super::wait::MAX_SPIN;
use super::{ChannelError, Options};

/// The settings that concern both ends of a channel.
///
/// The controller takes them from its [`Options`] and writes them into the control block
/// when it creates the channel ([`ControllerChannel::create`](crate::ControllerChannel::create));
/// the worker reads them when it opens the channel ([`WorkerChannel::open`](crate::WorkerChannel::open))
/// and works with exactly these values. [`ControllerChannel::config`](crate::ControllerChannel::config)
/// and [`WorkerChannel::config`](crate::WorkerChannel::config) show each side's copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelConfig {
    /// How long a waiting side spins on the shared word before it sleeps
    /// ([`Options::spin`]).
    pub spin: Duration,
    /// The largest message either side may write ([`Options::max_buffer_bytes`]).
    pub max_buffer_bytes: usize,
}

/// Largest `max_buffer_bytes`: no mapping can be larger.
const MAX_BUFFER_BYTES: u64 = isize::MAX as u64;

impl ChannelConfig {
    /// The shared part of the controller's options, checked.
    pub(crate) fn from_options(options: &Options) -> Result<ChannelConfig, ChannelError> {
        if options.spin > MAX_SPIN {
            return Err(ChannelError::InvalidConfig {
                setting: "spin",
                value: Readable(options.spin).to_string(),
                reason: "a spin budget must be at most 1 s: lower `Options::spin`",
            });
        }
        if options.max_buffer_bytes as u64 > MAX_BUFFER_BYTES {
            return Err(ChannelError::InvalidConfig {
                setting: "max_buffer_bytes",
                value: options.max_buffer_bytes.to_string(),
                reason: "no mapping can be larger than `isize::MAX` bytes: lower `Options::max_buffer_bytes`",
            });
        }
        Ok(ChannelConfig {
            spin: options.spin,
            max_buffer_bytes: options.max_buffer_bytes,
        })
    }

    /// Writes the section (the controller, before it publishes the block).
    pub(crate) fn write_to(&self, section: &ConfigSection) {
        // Both fit: `from_options` checked them.
        let spin_nanos = u64::try_from(self.spin.as_nanos()).unwrap_or(u64::MAX);
        section.spin_nanos.store(spin_nanos, Ordering::Relaxed);
        section
            .max_buffer_bytes
            .store(self.max_buffer_bytes as u64, Ordering::Relaxed);
    }

    /// Reads the section the controller wrote (the worker, after it checked the block's
    /// magic and version). Values are checked as the controller checks its options: the
    /// peer's memory is not trusted.
    pub(crate) fn read_from(section: &ConfigSection) -> Result<ChannelConfig, ChannelError> {
        let spin_nanos = section.spin_nanos.load(Ordering::Acquire);
        let spin = Duration::from_nanos(spin_nanos);
        if spin > MAX_SPIN {
            return Err(ChannelError::InvalidConfig {
                setting: "spin",
                value: Readable(spin).to_string(),
                reason: "the controller wrote a spin budget above 1 s into the control block; \
                         controller and worker must use the same tandem release",
            });
        }
        let max_bytes = section.max_buffer_bytes.load(Ordering::Acquire);
        let max_buffer_bytes = usize::try_from(max_bytes)
            .ok()
            .filter(|_| max_bytes <= MAX_BUFFER_BYTES)
            .ok_or_else(|| ChannelError::InvalidConfig {
                setting: "max_buffer_bytes",
                value: max_bytes.to_string(),
                reason: "the controller wrote a buffer limit above `isize::MAX` into the \
                         control block; controller and worker must use the same tandem release",
            })?;
        Ok(ChannelConfig {
            spin,
            max_buffer_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::{ChannelConfig, ConfigSection};
    use crate::{ChannelError, Options};

    fn section() -> ConfigSection {
        ConfigSection {
            spin_nanos: AtomicU64::new(0),
            max_buffer_bytes: AtomicU64::new(0),
        }
    }

    #[test]
    fn what_the_controller_writes_the_worker_reads() {
        let options = Options::default()
            .spin(Duration::from_micros(123))
            .max_buffer_bytes(4567);
        let config = ChannelConfig::from_options(&options).unwrap();
        let section = section();
        config.write_to(&section);
        assert_eq!(ChannelConfig::read_from(&section).unwrap(), config);
    }

    #[test]
    fn out_of_range_settings_are_errors_on_both_sides() {
        let error = ChannelConfig::from_options(&Options::default().spin(Duration::from_secs(2)))
            .unwrap_err();
        assert!(
            matches!(
                error,
                ChannelError::InvalidConfig {
                    setting: "spin",
                    ..
                }
            ),
            "{error}"
        );
        let section = section();
        section.spin_nanos.store(u64::MAX, Ordering::Relaxed);
        let error = ChannelConfig::read_from(&section).unwrap_err();
        assert!(error.to_string().contains("`spin`"), "{error}");
        section.spin_nanos.store(0, Ordering::Relaxed);
        section.max_buffer_bytes.store(u64::MAX, Ordering::Relaxed);
        let error = ChannelConfig::read_from(&section).unwrap_err();
        assert!(
            matches!(
                error,
                ChannelError::InvalidConfig {
                    setting: "max_buffer_bytes",
                    ..
                }
            ),
            "{error}"
        );
    }
}
