//! Fuzzes what a BMC (or anything pretending to be one) can send back, and the actions and
//! URLs the Redfish adapter reads: none may panic, and a parsed body is never larger than the
//! input.
#![no_main]

use praxis::adapters::redfish::{parse_operation, parse_response, BmcUrl};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(response) = parse_response(data) {
        assert!(response.body.len() <= data.len());
        assert!((100..1000).contains(&response.status));
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(url) = BmcUrl::parse(&text) {
        assert!(!url.host.is_empty());
        assert!(!url.origin().contains('@'));
    }
    drop(parse_operation(&text));
});
