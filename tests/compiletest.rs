//! Compile-time behaviour of the derives: accepted shapes and rejected ones with their
//! messages (`tests/ui/fail/*.stderr`; bless with `TRYBUILD=overwrite`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
