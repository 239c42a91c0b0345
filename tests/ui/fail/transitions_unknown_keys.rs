// Every bad key of an attribute is reported from one build, not only the first.
#[derive(tandem::Transitions)]
enum Generator {
    #[transition(inptu = u32, output = u64, replya)]
    //~^ ERROR unknown key `inptu` in `#[transition(...)]`: expected `input`, `output`, `replay`, `borrow`, `reuse`, `item` or `end`
    //~| ERROR unknown key `replya` in `#[transition(...)]`: expected `input`, `output`, `replay`, `borrow`, `reuse`, `item` or `end`
    Event,
}

fn main() {}
