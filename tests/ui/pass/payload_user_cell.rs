//! Field types are judged by the `Payload` trait, not by their name: a calorimeter `Cell`
//! (or a user `Arc`, `Mutex`...) that derives `Payload` is a payload like any other.
use tandem::Payload;

#[derive(Payload, Debug, PartialEq, Clone)]
struct Cell {
    ieta: i32,
    iphi: i32,
    energy: f32,
}

#[derive(Payload, Debug, PartialEq)]
struct Cluster {
    seed: Cell,
    cells: Vec<Cell>,
    best: Option<Cell>,
}

pub fn main() {
    let seed = Cell { ieta: 3, iphi: 12, energy: 41.5 };
    let cluster = Cluster { seed: seed.clone(), cells: vec![seed.clone(); 2], best: Some(seed) };
    let bytes = tandem::encode_to_vec(&cluster);
    assert_eq!(tandem::decode_from::<Cluster>(&bytes).unwrap(), cluster);
}
