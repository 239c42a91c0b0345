#[derive(tandem::Payload)]
#[payload(pod)]
//~^ ERROR[E0277] `Point: Immutable`
//~| ERROR[E0277] `Point: FromBytes`
//~| ERROR[E0277] `Point: IntoBytes`
#[repr(C)]
struct Point {
    x: f64,
    y: f64,
}

fn main() {}
