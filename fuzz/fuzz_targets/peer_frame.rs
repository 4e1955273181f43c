#![no_main]
//! Fuzz target: see `kith_fuzz_targets::peer_frame`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kith_fuzz_targets::peer_frame(data);
});
