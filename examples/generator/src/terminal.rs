//! The progress bar on a terminal, with every line written to stderr meanwhile (the
//! workers' lines, which the library forwards to this process's stderr, and this process's
//! own) printed above the bar instead of into it.
//!
//! The bar draws on a duplicate of the terminal's descriptor; descriptor 2 becomes a pipe
//! whose lines a thread prints above the bar. [`BarTerminal::finish`] (or drop) clears the
//! bar, puts the terminal back on descriptor 2 and prints what was still in the pipe.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::thread::JoinHandle;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar that owns stderr while it is shown.
pub struct BarTerminal {
    bar: ProgressBar,
    /// The terminal, to put back on descriptor 2.
    terminal: OwnedFd,
    /// Prints the pipe's lines above the bar until the pipe closes.
    printer: Option<JoinHandle<()>>,
}

impl BarTerminal {
    /// A bar of `total` events on the terminal that stderr is; `None` if stderr cannot be
    /// rerouted (the caller then draws the bar on stderr as usual).
    pub fn start(total: u64) -> Option<BarTerminal> {
        let terminal = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
        let draw_on = File::from(terminal.try_clone().ok()?);
        let lines_to = File::from(terminal.try_clone().ok()?);
        let (reader, writer) = std::io::pipe().ok()?;
        let term = console::Term::read_write_pair(std::io::stdin(), draw_on);
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::term(term, 20));
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} events ({per_sec}, eta {eta})",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        let shown = bar.clone();
        let printer = std::thread::Builder::new()
            .name("stderr-above-bar".to_owned())
            .spawn(move || {
                let mut out = lines_to;
                for line in BufReader::new(reader).lines() {
                    let Ok(line) = line else { break };
                    shown.suspend(|| {
                        let _ = writeln!(out, "{line}");
                    });
                }
            })
            .ok()?;
        // SAFETY: both descriptors are open for the duration of the call; dup2 replaces
        // descriptor 2 atomically, so a concurrent write goes to the old or the new file.
        if unsafe { libc::dup2(writer.as_raw_fd(), 2) } < 0 {
            return None;
        }
        drop(writer);
        Some(BarTerminal {
            bar,
            terminal,
            printer: Some(printer),
        })
    }

    /// The bar.
    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }

    /// Clears the bar, puts the terminal back on stderr and prints the lines still in the
    /// pipe.
    pub fn finish(mut self) {
        self.restore();
    }

    fn restore(&mut self) {
        let Some(printer) = self.printer.take() else {
            return;
        };
        self.bar.finish_and_clear();
        // SAFETY: as in `start`; closing the pipe's last write end ends the printer.
        unsafe { libc::dup2(self.terminal.as_raw_fd(), 2) };
        let _ = printer.join();
    }
}

impl Drop for BarTerminal {
    fn drop(&mut self) {
        self.restore();
    }
}
