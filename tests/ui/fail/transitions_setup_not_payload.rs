// A setup type that is not a `Payload` is reported once, at the type, although `spawn`,
// `serve` and the fingerprint all use it.
struct Config;

#[derive(tandem::Transitions)]
#[transitions(setup = Config)]
//~^ ERROR[E0277] `Config` cannot cross a process boundary: it does not implement `Payload`
//~| NOTE derive it with `#[derive(tandem::Payload)]`
//~| NOTE a value is copied into the other process
//~| LABEL not a `Payload`
enum Job {
    Step,
}

fn main() {}
