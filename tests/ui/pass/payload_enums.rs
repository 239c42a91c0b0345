use tandem::Payload;

#[derive(Payload, Debug, PartialEq)]
enum Fieldless {
    A,
    B,
    C = 10,
}

#[derive(Payload, Debug, PartialEq)]
enum Shape {
    Empty,
    Circle(f64),
    Rect { width: f64, height: f64 },
    Named(String, Option<Box<Shape>>),
}

#[derive(Payload)]
enum Never {}

pub fn main() {
    let shape = Shape::Named("outer".into(), Some(Box::new(Shape::Rect { width: 1.0, height: 2.0 })));
    let bytes = tandem::encode_to_vec(&shape);
    assert_eq!(tandem::decode_from::<Shape>(&bytes).unwrap(), shape);
    // Tags are declaration indices, not discriminants.
    assert_eq!(tandem::encode_to_vec(&Fieldless::C), 2u32.to_le_bytes());
    assert_eq!(tandem::decode_from::<Fieldless>(&1u32.to_le_bytes()).unwrap(), Fieldless::B);
    assert!(tandem::decode_from::<Never>(&0u32.to_le_bytes()).is_err());
    let _ = Fieldless::A;
}
