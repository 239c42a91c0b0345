use tandem::Transitions;

#[derive(Transitions)]
enum Job {
    #[transition(input = u32, replay, item)]
    //~^ ERROR a `replay` transition establishes state before items: it cannot also be an `item` or an `end` transition
    BeginRun,
    #[transition(input = u64, item)]
    //~^ ERROR only one transition can be the `item` transition a pool distributes
    Event,
    #[transition(input = u64, item, end)]
    //~^ ERROR the `item` transition runs once per item: it cannot also end a block
    //~| ERROR only one transition can be the `item` transition a pool distributes
    Other,
}

fn main() {}
