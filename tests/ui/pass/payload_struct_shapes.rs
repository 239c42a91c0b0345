use tandem::Payload;

#[derive(Payload, Debug, PartialEq)]
struct Unit;

#[derive(Payload, Debug, PartialEq)]
struct Tuple(u32, String, Unit);

#[derive(Payload, Debug, PartialEq)]
struct Empty {}

#[derive(Payload, Debug, PartialEq)]
struct Raw {
    r#type: u8,
}

pub fn main() {
    assert!(tandem::encode_to_vec(&Unit).is_empty());
    let value = Tuple(3, "three".into(), Unit);
    let bytes = tandem::encode_to_vec(&value);
    assert_eq!(tandem::decode_from::<Tuple>(&bytes).unwrap(), value);
    assert_eq!(tandem::decode_from::<Empty>(&[]).unwrap(), Empty {});
    assert_eq!(tandem::decode_from::<Raw>(&[7]).unwrap(), Raw { r#type: 7 });
}
