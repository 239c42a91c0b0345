use tandem::Transitions;

#[derive(Transitions)]
enum Calorimeter {
    #[transition(input = [f64; 4], borrow)]
    //~^ ERROR `borrow` reads a `Vec<E>` of plain-old-data elements in place: declare the input as `Vec<E>`
    Sum,
    #[transition(output = f64, borrow)]
    //~^ ERROR `borrow` needs an input to borrow: declare `input = Vec<E>` with a plain-old-data `E`
    Total,
}

fn main() {}
