use tandem::Payload;

#[derive(Payload, Debug, PartialEq)]
struct Pair<A, B> {
    first: A,
    second: B,
}

#[derive(Payload, Debug, PartialEq)]
struct Bounded<T: Clone, const N: usize>
where
    T: core::fmt::Debug,
{
    items: [T; N],
}

pub fn main() {
    let value = Pair { first: 1u8, second: Bounded { items: [String::from("x")] } };
    let bytes = tandem::encode_to_vec(&value);
    let back: Pair<u8, Bounded<String, 1>> = tandem::decode_from(&bytes).unwrap();
    assert_eq!(back, value);
    assert_ne!(
        <Pair<u8, u16> as Payload>::FINGERPRINT,
        <Pair<u16, u8> as Payload>::FINGERPRINT
    );
}
