use tandem::Transitions;

#[derive(Transitions)]
enum Calorimeter {
    #[transition(input = [f64; 4], borrow)]
    Sum,
    #[transition(output = f64, borrow)]
    Total,
}

fn main() {}
