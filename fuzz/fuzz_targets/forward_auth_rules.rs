#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oidc_session_fuzz::forward_auth_rules(data));
