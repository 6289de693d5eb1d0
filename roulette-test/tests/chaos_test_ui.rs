//! Compile errors of `#[chaos_test]`: each points at the argument or the
//! part of the signature that is wrong.

#[test]
fn chaos_test_attribute_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
