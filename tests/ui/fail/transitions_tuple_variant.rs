#[derive(tandem::Transitions)]
enum Generator {
    BeginRun,
    Event(u64),
    //~^ ERROR transition `Event` cannot carry fields: declare its payloads with `#[transition(input = T, output = U)]`
}

fn main() {}
