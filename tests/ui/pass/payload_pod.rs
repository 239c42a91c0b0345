//! `#[payload(pod)]` with zerocopy's derives reached through `tandem::zerocopy`: the test
//! crate has no zerocopy dependency of its own (the facade's dev-dependencies hold none).
use tandem::zerocopy::{FromBytes, Immutable, IntoBytes};
use tandem::Payload;

#[derive(Payload, IntoBytes, FromBytes, Immutable, Debug, PartialEq, Clone, Copy)]
#[zerocopy(crate = "tandem::zerocopy")]
#[payload(pod)]
#[repr(C)]
struct Particle {
    pdg_id: i32,
    status: i32,
    momentum: [f64; 4],
}

#[derive(Payload, Debug, PartialEq)]
struct Event {
    number: u8,
    particles: Vec<Particle>,
}

pub fn main() {
    let event = Event {
        number: 1,
        particles: vec![Particle { pdg_id: 11, status: 1, momentum: [1.0, 2.0, 3.0, 4.0] }; 3],
    };
    let bytes = tandem::encode_to_vec(&event);
    // 1 + 8 (length) + 7 padding to the 8-byte alignment + 3 * 40.
    assert_eq!(bytes.len(), 1 + 8 + 7 + 3 * 40);
    assert_eq!(tandem::decode_from::<Event>(&bytes).unwrap(), event);
}
