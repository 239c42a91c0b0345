#[derive(tandem::Payload)]
#[payload(pod)]
#[repr(C)]
struct Point {
    x: f64,
    y: f64,
}

fn main() {}
