#[derive(tandem::Transitions)]
enum Generator {
    BeginRun,
    Event = 7,
    //~^ ERROR explicit discriminants are not allowed: a transition's kind is its position in the enum
}

fn main() {}
