//! Compile-time tests of `#[derive(Model)]`: each `ui/*.rs` is one mistake
//! that must fail with the message in its `.stderr`; each `ui-pass/*.rs`
//! must compile. Bless with `TRYBUILD=overwrite cargo test -p strata-tests
//! --test ui`, then read every changed `.stderr` as a user would.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui-pass/*.rs");
}
