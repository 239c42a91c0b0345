#[derive(tandem::Transitions)]
enum Generator {
    BeginRun { run: u32 },
    //~^ ERROR transition `BeginRun` cannot carry fields: declare its payloads with `#[transition(input = T, output = U)]`
    Event,
}

fn main() {}
