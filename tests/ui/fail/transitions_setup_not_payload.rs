// A setup type that is not a `Payload` is reported once, at the type, although `spawn`,
// `serve` and the fingerprint all use it.
struct Config;

#[derive(tandem::Transitions)]
#[transitions(setup = Config)]
enum Job {
    Step,
}

fn main() {}
