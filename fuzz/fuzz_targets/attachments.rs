#![no_main]
//! Fuzz target: see `kith_fuzz_targets::attachments`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kith_fuzz_targets::attachments(data);
});
