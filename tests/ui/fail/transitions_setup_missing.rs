// Without `#[transitions(setup = ...)]` the setup payload is `()`: passing a config to
// `spawn` says so, instead of a bare type mismatch.
use tandem::{Options, Payload, Transitions};

#[derive(Payload)]
struct JobConfig {
    label: String,
}

#[derive(Transitions)]
enum Job {
    Step,
}

fn main() {
    let config = JobConfig { label: "run".into() };
    let _ = JobController::spawn(std::process::Command::new("worker"), 0, Options::default(), &config);
    //~^ ERROR[E0277] `spawn` expects the setup payload `&()`, found `&JobConfig`
    //~| NOTE the setup type is declared on the enum
    //~| LABEL not the setup payload of these transitions
}
