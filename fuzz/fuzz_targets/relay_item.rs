#![no_main]
//! Fuzz target: see `kith_fuzz_targets::relay_item`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kith_fuzz_targets::relay_item(data);
});
