// Recursion through another type is not supported by fingerprints: a cycle error.
#[derive(tandem::Payload)]
//~^ ERROR[E0391] cycle detected when
struct A {
    b: Option<Box<B>>,
}

#[derive(tandem::Payload)]
struct B {
    a: Vec<A>,
}

fn main() {
    let _ = <A as tandem::Payload>::FINGERPRINT;
}
