use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use tandem::Payload;

#[derive(Payload, Debug, PartialEq, Default)]
struct Inner {
    name: String,
}

#[derive(Payload, Debug, PartialEq, Default)]
struct Everything {
    unit: (),
    flag: bool,
    a: u8,
    b: u16,
    c: u32,
    d: u64,
    e: u128,
    f: usize,
    g: i8,
    h: i16,
    i: i32,
    j: i64,
    k: i128,
    l: isize,
    m: f32,
    n: f64,
    o: char,
    p: [u16; 3],
    q: (u8, String, (bool, char)),
    r: (u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8),
    s: Option<u32>,
    t: Vec<Inner>,
    u: String,
    v: Box<Inner>,
    w: Inner,
    x: BTreeMap<String, Vec<u8>>,
    y: HashMap<u32, Option<String>>,
    z: BTreeSet<i64>,
    zz: HashSet<String>,
    nested: Vec<Vec<Option<[f64; 2]>>>,
}

pub fn main() {
    let mut value = Everything {
        o: 'ß',
        ..Everything::default()
    };
    value.t.push(Inner { name: "n".into() });
    value.x.insert("k".into(), vec![1, 2]);
    value.y.insert(9, None);
    let bytes = tandem::encode_to_vec(&value);
    assert_eq!(bytes.len(), value.encoded_len(0));
    assert_eq!(tandem::decode_from::<Everything>(&bytes).unwrap(), value);
}
