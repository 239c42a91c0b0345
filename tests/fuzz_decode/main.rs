//! A bounded run of the decoder fuzz target on the stable toolchain, for CI: the fuzz target
//! (`fuzz/fuzz_targets/decode_nested.rs`) needs nightly and cargo-fuzz, so this program runs
//! its very checks (`fuzz/checks/decode_nested.rs`: no panic, the documented memory bound,
//! every allocation charged to the budget, decode of encode a round trip) for a given time on
//! inputs of its own: encodings of random values of every shape the checks decode (and the
//! files of `fuzz/corpus/decode_nested/`, when a fuzzing run left some), mutated as libFuzzer
//! mutates (bit flips, interesting integers over length prefixes and tags, inserted, removed
//! and repeated ranges, splices), and random bytes. No coverage guidance: it finds less than
//! the fuzzer would in the same time, but it runs on every CI build.
//!
//! Not a test of `cargo test` (`test = false`): CI runs it as a step of its own,
//! `cargo test --workspace --test fuzz_decode -- --seconds 60`. Options: `--seconds N` (60),
//! `--seed N` (from the clock; printed, so a run can be repeated), `--input FILE` (check one
//! input, e.g. a failure this program saved). It prints how many inputs it checked.

#[path = "../../fuzz/checks/decode_nested.rs"]
mod checks;

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use checks::{Big, Event, Particle, Tree, Vertex};
use tandem::{encode_to_vec, Payload};

#[global_allocator]
static ALLOCATOR: checks::Counting = checks::Counting;

/// Inputs longer than this are cut (libFuzzer's default `-max_len`).
const MAX_LEN: usize = 4096;

/// splitmix64: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn string(&mut self) -> String {
        let len = self.below(12);
        (0..len)
            .map(|_| match self.below(4) {
                0 => char::from_u32(self.below(0x11_0000) as u32).unwrap_or('é'),
                _ => (b'a' + self.below(26) as u8) as char,
            })
            .collect()
    }

    fn float(&mut self) -> f64 {
        match self.below(8) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            _ => f64::from_bits(self.next()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Seeds: valid encodings of every shape the checks decode
// ---------------------------------------------------------------------------------------------

fn tree(rng: &mut Rng, depth: usize) -> Tree {
    if depth == 0 {
        return Tree {
            children: Vec::new(),
            label: None,
        };
    }
    Tree {
        children: (0..rng.below(4)).map(|_| tree(rng, depth - 1)).collect(),
        label: rng.one_in(3).then(|| Box::new(tree(rng, depth - 1))),
    }
}

fn vertex(rng: &mut Rng, depth: usize) -> Vertex {
    match rng.below(if depth == 0 { 3 } else { 4 }) {
        0 => Vertex::Primary,
        1 => Vertex::Displaced(rng.float(), rng.float(), rng.float()),
        2 => Vertex::Decay {
            parent: rng.next() as u32,
            products: (0..rng.below(5)).map(|_| rng.next() as u32).collect(),
            label: rng.one_in(2).then(|| rng.string()),
        },
        _ => Vertex::Nested(Box::new(vertex(rng, depth - 1))),
    }
}

fn event(rng: &mut Rng) -> Event {
    Event {
        run: rng.next() as u32,
        flag: rng.one_in(2),
        tag: char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('x'),
        particles: (0..rng.below(6))
            .map(|_| Particle {
                pdg_id: rng.next() as i32,
                status: rng.below(4) as i32,
                momentum: [rng.float(), rng.float(), rng.float(), rng.float()],
            })
            .collect(),
        vertices: (0..rng.below(4)).map(|_| vertex(rng, 3)).collect(),
        names: (0..rng.below(4)).map(|_| rng.string()).collect(),
        // At most one entry per map now and then, so that some seeds are canonical and the
        // checks compare their re-encoding byte for byte.
        weights: (0..rng.below(3))
            .map(|_| (rng.string(), rng.float()))
            .collect(),
        counters: (0..rng.below(3))
            .map(|_| (rng.next() as u16, vec![(); rng.below(4)]))
            .collect(),
        comment: rng.one_in(2).then(|| Box::new(rng.string())),
        seeds: [rng.next(), rng.next()],
        big: (
            u128::from(rng.next()) << 64 | u128::from(rng.next()),
            rng.next() as i128,
            rng.next() as usize,
            rng.next() as isize,
        ),
    }
}

fn big(rng: &mut Rng) -> Big {
    if rng.one_in(2) {
        Big::Empty
    } else {
        Big::Large(std::array::from_fn(|_| rng.next()))
    }
}

/// One seed of each shape, `rounds` times.
fn seeds(rng: &mut Rng, rounds: usize) -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for _ in 0..rounds {
        let n = rng.below(5);
        seeds.push(encode_to_vec(&tree(rng, 4)));
        seeds.push(encode_to_vec(
            &(0..n)
                .map(|_| std::array::from_fn(|_| Box::new(())))
                .collect::<Vec<[Box<()>; 16]>>(),
        ));
        seeds.push(encode_to_vec(
            &(0..n)
                .map(|_| vec![(); rng.below(5)])
                .collect::<Vec<Vec<()>>>(),
        ));
        seeds.push(encode_to_vec(&(0..n).map(|_| big(rng)).collect::<Vec<_>>()));
        seeds.push(encode_to_vec(
            &(0..n)
                .map(|_| rng.one_in(2).then(|| Box::new(big(rng))))
                .collect::<Vec<_>>(),
        ));
        seeds.push(encode_to_vec(
            &(0..n)
                .map(|_| {
                    let strings = (0..rng.below(3)).map(|_| rng.string()).collect();
                    (rng.next() as u16, strings)
                })
                .collect::<HashMap<u16, Vec<String>>>(),
        ));
        seeds.push(encode_to_vec(
            &(0..n)
                .map(|_| (rng.next() as u32, rng.one_in(2).then(|| rng.string())))
                .collect::<BTreeMap<u32, Option<String>>>(),
        ));
        let event = event(rng);
        let bytes = encode_to_vec(&event);
        assert_eq!(bytes.len(), event.encoded_len(0));
        seeds.push(bytes);
    }
    seeds
}

/// The inputs a fuzzing run left in `fuzz/corpus/decode_nested/`, if any.
fn corpus() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode_nested");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read(entry.path()).ok())
        .filter(|bytes| bytes.len() <= MAX_LEN)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------

/// Values that make decoders take unusual paths: zero, one, boundaries of each width, and
/// lengths around the input's own.
fn interesting(rng: &mut Rng, len: usize) -> u64 {
    const VALUES: [u64; 12] = [
        0,
        1,
        2,
        7,
        8,
        0x7F,
        0x80,
        0xFF,
        0x7FFF_FFFF,
        0xFFFF_FFFF,
        i64::MAX as u64,
        u64::MAX,
    ];
    match rng.below(4) {
        0 => (len as u64)
            .wrapping_add(rng.below(17) as u64)
            .wrapping_sub(8),
        1 => 1 << rng.below(64),
        _ => VALUES[rng.below(VALUES.len())],
    }
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let len = input.len();
    match rng.below(9) {
        0 if len > 0 => {
            let at = rng.below(len);
            input[at] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let at = rng.below(len);
            input[at] = rng.next() as u8;
        }
        // An interesting integer of 1, 2, 4 or 8 bytes over a length prefix or a tag.
        2 | 3 if len > 0 => {
            let width = 1 << rng.below(4);
            let bytes = interesting(rng, len).to_le_bytes();
            let at = rng.below(len);
            let end = (at + width).min(len);
            input[at..end].copy_from_slice(&bytes[..end - at]);
        }
        4 => {
            let at = rng.below(len + 1);
            let count = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..count).map(|_| rng.next() as u8).collect();
            input.splice(at..at, bytes);
        }
        5 if len > 0 => {
            let at = rng.below(len);
            let end = at + 1 + rng.below((len - at).min(64));
            input.drain(at..end);
        }
        // A range repeated: more elements than the length prefix announces, or nested copies.
        6 if len > 0 => {
            let at = rng.below(len);
            let end = at + 1 + rng.below((len - at).min(64));
            let copy = input[at..end].to_vec();
            let to = rng.below(len + 1);
            input.splice(to..to, copy);
        }
        7 => {
            let other = &seeds[rng.below(seeds.len())];
            let cut = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
        }
        _ => input.truncate(rng.below(len + 1)),
    }
    input.truncate(MAX_LEN);
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

struct Args {
    seconds: u64,
    seed: Option<u64>,
    input: Option<PathBuf>,
}

fn args() -> Args {
    let mut args = Args {
        seconds: 60,
        seed: None,
        input: None,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let mut value = |name: &str| {
            words
                .next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match word.as_str() {
            "--seconds" => {
                args.seconds = value("--seconds")
                    .parse()
                    .unwrap_or_else(|_| usage("--seconds takes a whole number"));
            }
            "--seed" => {
                args.seed = Some(
                    value("--seed")
                        .parse()
                        .unwrap_or_else(|_| usage("--seed takes a whole number")),
                );
            }
            "--input" => args.input = Some(value("--input").into()),
            // Asked by test runners that list tests: there are none.
            "--list" => std::process::exit(0),
            other => usage(&format!("unknown argument `{other}`")),
        }
    }
    args
}

fn usage(problem: &str) -> ! {
    eprintln!("fuzz_decode: {problem}\nusage: fuzz_decode [--seconds N] [--seed N] [--input FILE]");
    std::process::exit(2);
}

/// Runs the checks on `input`; on a failure saves the input and exits.
fn check_or_exit(input: &[u8], what: &str) {
    if std::panic::catch_unwind(AssertUnwindSafe(|| checks::check(input))).is_ok() {
        return;
    }
    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fuzz_decode-failure-{}.bin", std::process::id()));
    let saved = std::fs::write(&file, input);
    eprintln!(
        "fuzz_decode: the checks failed on {what} ({} bytes)",
        input.len()
    );
    match saved {
        Ok(()) => eprintln!(
            "saved as {0}; repeat with `cargo test --test fuzz_decode -- --input {0}`",
            file.display()
        ),
        Err(error) => eprintln!("could not save it to {}: {error}", file.display()),
    }
    let shown = &input[..input.len().min(256)];
    eprintln!("first bytes: {shown:02x?}");
    std::process::exit(1);
}

fn main() {
    let args = args();
    if let Some(path) = &args.input {
        let input = std::fs::read(path)
            .unwrap_or_else(|error| usage(&format!("{}: {error}", path.display())));
        check_or_exit(&input, &path.display().to_string());
        println!("fuzz_decode: {} passes the checks", path.display());
        return;
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64)
    });
    let mut rng = Rng(seed);
    let mut seeds = seeds(&mut rng, 32);
    let generated = seeds.len();
    seeds.extend(corpus());
    println!(
        "fuzz_decode: seed {seed}, {generated} generated seeds and {} from the corpus, {} s",
        seeds.len() - generated,
        args.seconds
    );
    for (index, input) in seeds.iter().enumerate() {
        check_or_exit(input, &format!("seed input {index} (seed {seed})"));
    }
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut inputs = seeds.len() as u64;
    let mut input = Vec::new();
    while Instant::now() < deadline {
        // A fresh seed most of the time; otherwise the previous input mutated further.
        if rng.one_in(16) {
            input = (0..rng.below(256)).map(|_| rng.next() as u8).collect();
        } else if input.is_empty() || rng.below(4) != 0 {
            input.clone_from(&seeds[rng.below(seeds.len())]);
        }
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, &mut input, &seeds);
        }
        inputs += 1;
        check_or_exit(&input, &format!("input {inputs} (seed {seed})"));
    }
    println!(
        "fuzz_decode: {inputs} inputs checked in {} s, no failure",
        args.seconds
    );
}
