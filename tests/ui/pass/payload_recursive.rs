use tandem::Payload;

#[derive(Payload, Debug, PartialEq)]
struct Tree {
    value: i32,
    children: Vec<Tree>,
    parent_hint: Option<Box<Self>>,
}

#[derive(Payload, Debug, PartialEq)]
enum List {
    Nil,
    Cons(u8, Box<List>),
}

pub fn main() {
    let tree = Tree {
        value: 1,
        children: vec![Tree { value: 2, children: vec![], parent_hint: None }],
        parent_hint: None,
    };
    let bytes = tandem::encode_to_vec(&tree);
    assert_eq!(tandem::decode_from::<Tree>(&bytes).unwrap(), tree);
    let list = List::Cons(1, Box::new(List::Cons(2, Box::new(List::Nil))));
    assert_eq!(tandem::decode_from::<List>(&tandem::encode_to_vec(&list)).unwrap(), list);
    assert_ne!(Tree::FINGERPRINT, List::FINGERPRINT);
}
