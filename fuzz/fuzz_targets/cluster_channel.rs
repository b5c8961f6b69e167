#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| actionhero_ws::fuzz::cluster_channel(data));
