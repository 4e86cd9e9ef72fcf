//! Fuzzes the stdio framing's line decoder: any bytes give a message or an error reply.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(Some(reply)) = praxis::transport::stdio::decode_line(data) {
        assert!(reply.code == -32700 || reply.code == -32600);
        assert!(!reply.message.is_empty());
    }
});
