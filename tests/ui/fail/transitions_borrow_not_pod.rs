use tandem::Transitions;

#[derive(Transitions)]
enum Calorimeter {
    #[transition(input = Vec<String>, borrow)]
    Sum,
}

fn main() {}
