//! A HepMC3 ASCII writer ("Asciiv3") that writes what HepMC3 3.2's `WriterAscii` writes for
//! the same events, so that HepMC3, pyhepmc, Rivet and Delphes read the file:
//!
//! ```text
//! HepMC::Version 3.02.06
//! HepMC::Asciiv3-START_EVENT_LISTING
//! W Default                                      run info: weight names,
//! T tandem-generator\|0.1.0\|e+e- -> ...         the tool (newlines escaped as `\|`),
//! A filter both muons pT > 20 GeV, |eta| < 2.4   and run attributes, by name
//! A filter_efficiency 8.55200000e-01             kept / generated, filled in at the end
//! E 1 2 5                                        number, vertex count, particle count
//! U GEV MM
//! W 1.0000000000000000000000e+00                 weights, `%.22e`
//! A 0 GenCrossSection 1.69e+03 1.2e+00 855 1000  σ × ε of the kept events, its error,
//! P 1 0 11 px py pz e m 4                        accepted and attempted events so far;
//! P 2 0 -11 ...                                  `%.16e` for the five reals
//! V -1 0 [1,2]                                   written before its first outgoing particle
//! P 3 -1 23 ...
//! P 4 3 13 ...                                   one incoming particle: no `V` line, the
//! P 5 3 -13 ...                                  particle names its mother instead
//! HepMC::Asciiv3-END_EVENT_LISTING
//! ```
//!
//! The writer's rules, from HepMC3's `WriterAscii::write_event`: a particle's second field
//! is its production vertex's id when that vertex has more than one incoming particle (or a
//! position), the id of the single incoming particle otherwise, and 0 without a production
//! vertex; a vertex line (with its incoming ids sorted) is written only in the first case,
//! just before the first particle it produces. The `E` line counts every vertex and particle,
//! written or implied. Reals use C's `%.Ne` (`1.0000000000000000e+00`: at least two exponent
//! digits, always signed).
//!
//! # Normalisation
//! HepMC3 keeps the cross section per event and Rivet (like `HepMC3::GenCrossSection`'s
//! users in general) normalises with the one of the last event it read, divided by the sum
//! of the weights it read. The file holds only the events the filter kept, so the cross
//! section written is that of the kept events, σ × ε, with ε = accepted / attempted counted
//! over this job's events up to and including the event (a running estimate, as Pythia's
//! HepMC3 interface writes), and its binomial error σ √(ε(1 − ε)/attempted). The last event
//! of a complete file therefore carries the job's own σ × ε. The run information holds the
//! filter and its measured efficiency, `filter_efficiency` (a fixed-width field written as a
//! placeholder and filled in when the file is finished).
//!
//! # Writing and failure
//! Events are buffered and written to the file at event boundaries; the writer counts the
//! events whose every byte reached the file. When a write fails (a full disk, a file-size
//! limit), the file is cut back to the last complete event and the error says how many
//! events it holds.

use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, Cursor, Seek, SeekFrom, Write};

use crate::event::GenEvent;

/// The version HepMC3 3.2.6 writes in the header.
pub const VERSION_LINE: &str = "HepMC::Version 3.02.06";
/// The line after the version.
pub const START_LINE: &str = "HepMC::Asciiv3-START_EVENT_LISTING";
/// The last line of a complete file.
pub const END_LINE: &str = "HepMC::Asciiv3-END_EVENT_LISTING";

/// Formats `value` as C's `printf("%.{precision}e")` does.
pub fn format_e(out: &mut String, value: f64, precision: usize) {
    let rust = format!("{value:.precision$e}");
    let (mantissa, exponent) = rust
        .split_once('e')
        .expect("`{:e}` of a finite f64 always has an exponent");
    let exponent: i32 = exponent
        .parse()
        .expect("`{:e}` of a finite f64 has an integer exponent");
    let sign = if exponent < 0 { '-' } else { '+' };
    let _ = write!(out, "{mantissa}e{sign}{:02}", exponent.unsigned_abs());
}

/// The filter's description in the run information.
pub const FILTER_DESCRIPTION: &str = "both muons pT > 20 GeV, |eta| < 2.4";

/// Bytes buffered before they are written to the file (always at an event boundary).
const FLUSH_BYTES: usize = 256 << 10;

/// Where the events go: a seekable stream that can be cut back to a length.
pub trait Output: Write + Seek {
    /// Cuts the stream to `len` bytes.
    ///
    /// # Errors
    /// The stream's errors.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

impl Output for File {
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
}

impl Output for Cursor<Vec<u8>> {
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.get_mut().truncate(len as usize);
        Ok(())
    }
}

/// A failed write: the error and how many complete events the file holds (it was cut back
/// to the end of the last one, if it could be).
#[derive(Debug)]
pub struct WriteError {
    /// Events whose every byte is in the file.
    pub complete_events: u64,
    /// Whether the file could be cut back to the last complete event.
    pub cut: bool,
    /// The stream's error.
    pub source: io::Error,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; the file holds {} complete events",
            self.source, self.complete_events
        )?;
        if self.cut {
            f.write_str(", cut after the last one, without the footer")
        } else {
            f.write_str(" and may end in the middle of one")
        }
    }
}

/// Writes events to a HepMC3 ASCII stream. Call [`finish`](Self::finish) to write the footer;
/// a writer dropped without it leaves the file without footer, which readers treat as a
/// file cut short.
pub struct HepMcWriter<W: Output> {
    out: W,
    /// σ before the filter, in pb.
    cross_section_pb: f64,
    /// Bytes not yet written to `out`: whole events only.
    pending: Vec<u8>,
    /// The end offset of each event in `pending`.
    pending_ends: Vec<u64>,
    /// Bytes in `out`.
    written: u64,
    /// Events whose every byte is in `out`.
    complete_events: u64,
    /// Where the `filter_efficiency` value starts.
    efficiency_at: u64,
    line: String,
}

/// The placeholder of the run's filter efficiency: `%.8e` of a number in [0, 1] always has
/// this width.
const EFFICIENCY_PLACEHOLDER: &str = "0.00000000e+00";

impl<W: Output> HepMcWriter<W> {
    /// Writes the header and the run information (one weight, named `Default`, this tool,
    /// the filter and a placeholder for its efficiency); `cross_section_pb` is σ before the
    /// filter.
    ///
    /// # Errors
    /// The stream's write errors.
    pub fn new(mut out: W, cross_section_pb: f64, tool_description: &str) -> io::Result<Self> {
        let tool = format!(
            "T {}\n{}\n{}",
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            tool_description
        );
        let mut header = format!(
            "{VERSION_LINE}\n{START_LINE}\nW Default\n{}\nA filter {}\n",
            escape(&tool),
            escape(FILTER_DESCRIPTION)
        );
        header.push_str("A filter_efficiency ");
        let efficiency_at = header.len() as u64;
        header.push_str(EFFICIENCY_PLACEHOLDER);
        header.push('\n');
        out.write_all(header.as_bytes())?;
        Ok(HepMcWriter {
            out,
            cross_section_pb,
            pending: Vec::with_capacity(FLUSH_BYTES + 4096),
            pending_ends: Vec::new(),
            written: header.len() as u64,
            complete_events: 0,
            efficiency_at,
            line: String::with_capacity(1024),
        })
    }

    /// Events whose every byte reached the stream.
    pub fn complete_events(&self) -> u64 {
        self.complete_events
    }

    /// Writes one event; `accepted` and `attempted` are the job's kept and generated events
    /// up to and including this one.
    ///
    /// # Errors
    /// The stream's write errors, with the count of complete events.
    pub fn write_event(
        &mut self,
        event: &GenEvent,
        accepted: u64,
        attempted: u64,
    ) -> Result<(), WriteError> {
        let text = &mut self.line;
        text.clear();
        let _ = writeln!(
            text,
            "E {} {} {}",
            event.number,
            event.vertices.len(),
            event.particles.len()
        );
        text.push_str("U GEV MM\nW");
        text.push(' ');
        format_e(text, event.weight, 22);
        text.push('\n');
        // GenCrossSection::to_string: `%.8e` value and error, then the accepted and
        // attempted event counts.
        let (sigma, error) = kept_cross_section(self.cross_section_pb, accepted, attempted);
        text.push_str("A 0 GenCrossSection ");
        format_e(text, sigma, 8);
        text.push(' ');
        format_e(text, error, 8);
        let _ = writeln!(text, " {accepted} {attempted}");
        let mut written = vec![false; event.vertices.len()];
        for (index, particle) in event.particles.iter().enumerate() {
            let mut parent = 0;
            if particle.production_vertex < 0 {
                let vertex_index = (-particle.production_vertex - 1) as usize;
                let vertex = &event.vertices[vertex_index];
                if vertex.incoming.len() > 1 {
                    parent = particle.production_vertex;
                    if !written[vertex_index] {
                        written[vertex_index] = true;
                        let mut incoming = vertex.incoming.clone();
                        incoming.sort_unstable();
                        let list: Vec<String> = incoming.iter().map(i32::to_string).collect();
                        let _ = writeln!(
                            text,
                            "V {} {} [{}]",
                            particle.production_vertex,
                            vertex.status,
                            list.join(",")
                        );
                    }
                } else if let Some(&mother) = vertex.incoming.first() {
                    parent = mother;
                }
            }
            let _ = write!(text, "P {} {} {}", index + 1, parent, particle.pdg_id);
            for value in particle.momentum.iter().chain([&particle.mass]) {
                text.push(' ');
                format_e(text, *value, 16);
            }
            let _ = writeln!(text, " {}", particle.status);
        }
        self.pending.extend_from_slice(text.as_bytes());
        self.pending_ends
            .push(self.written + self.pending.len() as u64);
        if self.pending.len() >= FLUSH_BYTES {
            self.flush_pending()?;
        }
        Ok(())
    }

    /// Writes the buffered events; on failure cuts the file back to the last complete event.
    fn flush_pending(&mut self) -> Result<(), WriteError> {
        let mut done = 0;
        let result = loop {
            if done == self.pending.len() {
                break Ok(());
            }
            match self.out.write(&self.pending[done..]) {
                Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => done += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => break Err(error),
            }
        };
        let reached = self.written + done as u64;
        match result {
            Ok(()) => {
                self.complete_events += self.pending_ends.len() as u64;
                self.written = reached;
                self.pending.clear();
                self.pending_ends.clear();
                Ok(())
            }
            Err(source) => {
                let whole = self
                    .pending_ends
                    .iter()
                    .take_while(|&&end| end <= reached)
                    .count();
                let boundary = match whole {
                    0 => self.written,
                    n => self.pending_ends[n - 1],
                };
                self.complete_events += whole as u64;
                // Cutting a file needs no space: the file then ends at an event.
                let cut = self.out.truncate(boundary).is_ok()
                    && self.out.seek(SeekFrom::Start(boundary)).is_ok();
                self.written = boundary;
                self.pending.clear();
                self.pending_ends.clear();
                Err(WriteError {
                    complete_events: self.complete_events,
                    cut,
                    source,
                })
            }
        }
    }

    /// Writes what is buffered, fills in the filter efficiency (`accepted` of `attempted`
    /// events kept), writes the footer and flushes.
    ///
    /// # Errors
    /// The stream's write errors, with the count of complete events.
    pub fn finish(mut self, accepted: u64, attempted: u64) -> Result<W, WriteError> {
        self.flush_pending()?;
        let complete_events = self.complete_events;
        let fail = |source| WriteError {
            complete_events,
            cut: false,
            source,
        };
        // WriterAscii::close writes the footer and an empty line.
        self.out
            .write_all(format!("{END_LINE}\n\n").as_bytes())
            .map_err(fail)?;
        let mut efficiency = String::new();
        format_e(
            &mut efficiency,
            if attempted == 0 {
                0.0
            } else {
                accepted as f64 / attempted as f64
            },
            8,
        );
        debug_assert_eq!(efficiency.len(), EFFICIENCY_PLACEHOLDER.len());
        self.out
            .seek(SeekFrom::Start(self.efficiency_at))
            .and_then(|_| self.out.write_all(efficiency.as_bytes()))
            .and_then(|_| self.out.seek(SeekFrom::End(0)))
            .and_then(|_| self.out.flush())
            .map_err(fail)?;
        Ok(self.out)
    }

    /// Writes what is buffered and the footer, leaving the efficiency placeholder: for a
    /// run that stopped early, whose file is kept as `….partial`.
    ///
    /// # Errors
    /// The stream's write errors, with the count of complete events.
    pub fn close_incomplete(mut self) -> Result<u64, WriteError> {
        self.flush_pending()?;
        let complete_events = self.complete_events;
        self.out
            .write_all(format!("{END_LINE}\n\n").as_bytes())
            .and_then(|_| self.out.flush())
            .map_err(|source| WriteError {
                complete_events,
                cut: false,
                source,
            })?;
        Ok(complete_events)
    }
}

/// The cross section of the kept events, σ × ε with ε = `accepted` / `attempted`, and its
/// binomial error σ √(ε(1 − ε)/attempted), in the unit of `sigma`.
pub fn kept_cross_section(sigma: f64, accepted: u64, attempted: u64) -> (f64, f64) {
    if attempted == 0 {
        return (0.0, 0.0);
    }
    let n = attempted as f64;
    let efficiency = accepted as f64 / n;
    (
        sigma * efficiency,
        sigma * (efficiency * (1.0 - efficiency) / n).sqrt(),
    )
}

/// HepMC3's `WriterAscii::escape`: backslash doubled, newline as `\|`.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(value: f64, precision: usize) -> String {
        let mut out = String::new();
        format_e(&mut out, value, precision);
        out
    }

    #[test]
    fn reals_look_like_printf() {
        assert_eq!(e(1.0, 16), "1.0000000000000000e+00");
        // The double nearest 45.5938 is 45.593800000000001660...: printf shows its digits.
        assert_eq!(e(-45.5938, 16), "-4.5593800000000002e+01");
        assert_eq!(e(-0.125, 3), "-1.250e-01");
        assert_eq!(e(0.0, 16), "0.0000000000000000e+00");
        assert_eq!(e(0.51099895e-3, 8), "5.10998950e-04");
        assert_eq!(e(1.5e123, 2), "1.50e+123");
    }

    #[test]
    fn one_event_as_hepmc3_writes_it() {
        let process = crate::physics::Process::new();
        let event = process.generate(
            7,
            &mut crate::physics::RngState::for_event(1, 1, 1, 7).rng(),
        );
        let mut writer = HepMcWriter::new(Cursor::new(Vec::new()), 2000.0, "test").unwrap();
        writer.write_event(&event, 3, 4).unwrap();
        let text = String::from_utf8(writer.finish(3, 4).unwrap().into_inner()).unwrap();
        let kinds: Vec<&str> = text
            .lines()
            .filter(|line| !line.is_empty())
            .map(|line| &line[..1])
            .collect();
        assert_eq!(
            kinds,
            ["H", "H", "W", "T", "A", "A", "E", "U", "W", "A", "P", "P", "V", "P", "P", "P", "H"]
        );
        assert!(text.contains("\nA filter_efficiency 7.50000000e-01\n"));
        assert!(text.contains("\nE 7 2 5\n"));
        // 2000 pb x 3/4, error 2000 x sqrt(3/16 / 4) = 433.0127...
        assert!(text.contains("\nA 0 GenCrossSection 1.50000000e+03 4.33012702e+02 3 4\n"));
        assert!(text.contains("\nV -1 0 [1,2]\nP 3 -1 23 "));
        assert!(text.contains("\nP 4 3 13 "));
        assert!(text.ends_with("HepMC::Asciiv3-END_EVENT_LISTING\n\n"));
    }

    /// A stream that takes `room` bytes and then fails like a full disk.
    struct Full {
        data: Cursor<Vec<u8>>,
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let left = self.room.saturating_sub(self.data.get_ref().len());
            if left == 0 {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            self.data.write(&bytes[..bytes.len().min(left)])
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Seek for Full {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.data.seek(to)
        }
    }

    impl Output for Full {
        fn truncate(&mut self, len: u64) -> io::Result<()> {
            self.data.get_mut().truncate(len as usize);
            Ok(())
        }
    }

    #[test]
    fn a_full_disk_leaves_whole_events_and_says_how_many() {
        let process = crate::physics::Process::new();
        let full = Full {
            data: Cursor::new(Vec::new()),
            room: 600_000,
        };
        let mut writer = HepMcWriter::new(full, 2000.0, "test").unwrap();
        let mut failure = None;
        for number in 1..=10_000 {
            let event = process.generate(
                number,
                &mut crate::physics::RngState::for_event(1, 1, 1, number).rng(),
            );
            if let Err(error) = writer.write_event(&event, number, number) {
                failure = Some(error);
                break;
            }
        }
        let failure = failure.expect("600 kB fill up");
        assert!(failure.cut);
        let text = String::from_utf8(writer.out.data.into_inner()).unwrap();
        let events = text.matches("\nE ").count() as u64;
        assert_eq!(events, failure.complete_events);
        assert!(events > 0);
        // The file ends with the last particle of the last complete event.
        let last = text.lines().last().unwrap();
        assert!(last.starts_with("P 5 3 "), "{last}");
        assert!(failure
            .to_string()
            .contains(&format!("{events} complete events")));
    }
}
