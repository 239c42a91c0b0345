use tandem::Transitions;

#[derive(Transitions)]
enum Calorimeter {
    #[transition(input = Vec<String>, borrow)]
    //~^ ERROR[E0277] `String` is not a plain-old-data payload
    //~| NOTE derive `Payload` with `#[payload(pod)]`
    //~| LABEL a borrowed input needs plain-old-data elements
    Sum,
}

fn main() {}
