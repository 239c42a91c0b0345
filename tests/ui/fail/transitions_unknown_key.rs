#[derive(tandem::Transitions)]
enum Generator {
    #[transition(inptu = u32)]
    //~^ ERROR unknown key `inptu` in `#[transition(...)]`: expected `input`, `output`, `replay`, `borrow`, `reuse`, `item` or `end`
    BeginRun,
}

fn main() {}
