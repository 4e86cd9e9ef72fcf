//! Fuzzes the egress filter: CIDR parsing and the check of any address against any allowlist.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use praxis::adapters::egress::{range, Cidr, EgressPolicy};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(cidr) = String::from_utf8_lossy(data).parse::<Cidr>() {
        let reparsed: Cidr = cidr.to_string().parse().expect("a parsed CIDR prints parseable");
        assert_eq!(reparsed, cidr);
    }
    if data.len() < 16 {
        return;
    }
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&data[..16]);
    let v6 = Ipv6Addr::from(bytes);
    let v4 = Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]);
    let open = EgressPolicy::new(vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()]);
    for ip in [IpAddr::V6(v6), IpAddr::V4(v4)] {
        // A range no configuration can open stays closed under the widest allowlist.
        if range(ip).always_blocked() {
            assert!(open.check(ip).is_err(), "{ip} is always blocked");
        }
        drop(EgressPolicy::default().check(ip));
    }
});
