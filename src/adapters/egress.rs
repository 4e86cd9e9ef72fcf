//! The egress filter: which addresses an adapter that opens sockets itself (Redfish) may reach.
//!
//! The classification is an explicit CIDR table in this file, not the platform's idea of what
//! "private" means, so it cannot change under us with a library upgrade. An IPv6 address that
//! carries an IPv4 address (v4-mapped, v4-compatible, NAT64, 6to4, Teredo) is judged by the
//! IPv4 address it would reach as well as by its own range; the stricter answer wins.
//!
//! Decisions, in order:
//! 1. a range in [`Range::always_blocked`] is refused whatever the configuration says
//!    (unspecified, link-local including cloud metadata at 169.254.169.254, multicast,
//!    broadcast, reserved, documentation, tunnels);
//! 2. any other address is allowed only inside a configured network ([`EgressPolicy`]); the
//!    default allows the RFC 1918 and unique-local ranges where BMCs live, and nothing else —
//!    loopback (the lab) and public addresses must be listed explicitly.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A network in CIDR notation. Host bits must be zero, so `10.0.0.1/8` is an error rather
/// than a silent widening.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside this network. A v4-mapped IPv6 address is compared as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_match(
                u128::from(net.to_bits()),
                u128::from(ip.to_bits()),
                self.prefix,
                32,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_match(net.to_bits(), ip.to_bits(), self.prefix, 128)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Why a CIDR string was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid network {input:?}: {reason}")]
pub struct CidrError {
    input: String,
    reason: &'static str,
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(input: &str) -> Result<Cidr, CidrError> {
        let error = |reason| CidrError {
            input: input.to_owned(),
            reason,
        };
        let (address, prefix) = input
            .split_once('/')
            .ok_or_else(|| error("expected ADDRESS/PREFIX, e.g. 10.0.0.0/8"))?;
        let network: IpAddr = address
            .parse()
            .map_err(|_| error("the address is not a literal IPv4 or IPv6 address"))?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 3 {
            return Err(error("the prefix length is not a number"));
        }
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| error("the prefix length is not a number"))?;
        let (bits, width) = match network {
            IpAddr::V4(v4) => (u128::from(v4.to_bits()), 32),
            IpAddr::V6(v6) => (v6.to_bits(), 128),
        };
        if prefix > width {
            return Err(error("the prefix length is longer than the address"));
        }
        if bits & !mask(prefix, width) != 0 {
            return Err(error("host bits are set below the prefix length"));
        }
        Ok(Cidr { network, prefix })
    }
}

/// The class of an address range, from the IANA special-purpose registries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    Unspecified,
    ThisNetwork,
    Loopback,
    Private,
    SharedAddressSpace,
    LinkLocal,
    ProtocolAssignments,
    Documentation,
    Relay6to4Anycast,
    Benchmarking,
    Multicast,
    Reserved,
    Broadcast,
    Ipv4Mapped,
    Ipv4Compatible,
    Nat64,
    Nat64LocalUse,
    Discard,
    Teredo,
    SixToFour,
    UniqueLocal,
    SiteLocal,
    Public,
}

impl Range {
    /// Ranges no configuration can open: nothing legitimate behind them is a BMC.
    pub fn always_blocked(self) -> bool {
        matches!(
            self,
            Range::Unspecified
                | Range::ThisNetwork
                | Range::LinkLocal
                | Range::Documentation
                | Range::Relay6to4Anycast
                | Range::Multicast
                | Range::Reserved
                | Range::Broadcast
                | Range::Ipv4Compatible
                | Range::Nat64LocalUse
                | Range::Discard
                | Range::Teredo
                | Range::SiteLocal
        )
    }

    fn name(self) -> &'static str {
        match self {
            Range::Unspecified => "unspecified",
            Range::ThisNetwork => "this-network",
            Range::Loopback => "loopback",
            Range::Private => "private",
            Range::SharedAddressSpace => "shared-address-space",
            Range::LinkLocal => "link-local",
            Range::ProtocolAssignments => "protocol-assignments",
            Range::Documentation => "documentation",
            Range::Relay6to4Anycast => "6to4-relay-anycast",
            Range::Benchmarking => "benchmarking",
            Range::Multicast => "multicast",
            Range::Reserved => "reserved",
            Range::Broadcast => "broadcast",
            Range::Ipv4Mapped => "ipv4-mapped",
            Range::Ipv4Compatible => "ipv4-compatible",
            Range::Nat64 => "nat64",
            Range::Nat64LocalUse => "nat64-local-use",
            Range::Discard => "discard-only",
            Range::Teredo => "teredo",
            Range::SixToFour => "6to4",
            Range::UniqueLocal => "unique-local",
            Range::SiteLocal => "site-local",
            Range::Public => "public",
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// IPv4 special-purpose ranges; the longest matching prefix wins.
const V4_TABLE: &[([u8; 4], u8, Range)] = &[
    ([0, 0, 0, 0], 32, Range::Unspecified),
    ([0, 0, 0, 0], 8, Range::ThisNetwork),
    ([10, 0, 0, 0], 8, Range::Private),
    ([100, 64, 0, 0], 10, Range::SharedAddressSpace),
    ([127, 0, 0, 0], 8, Range::Loopback),
    ([169, 254, 0, 0], 16, Range::LinkLocal),
    ([172, 16, 0, 0], 12, Range::Private),
    ([192, 0, 0, 0], 24, Range::ProtocolAssignments),
    ([192, 0, 2, 0], 24, Range::Documentation),
    ([192, 88, 99, 0], 24, Range::Relay6to4Anycast),
    ([192, 168, 0, 0], 16, Range::Private),
    ([198, 18, 0, 0], 15, Range::Benchmarking),
    ([198, 51, 100, 0], 24, Range::Documentation),
    ([203, 0, 113, 0], 24, Range::Documentation),
    ([224, 0, 0, 0], 4, Range::Multicast),
    ([240, 0, 0, 0], 4, Range::Reserved),
    ([255, 255, 255, 255], 32, Range::Broadcast),
];

/// IPv6 special-purpose ranges; the longest matching prefix wins.
const V6_TABLE: &[(u128, u8, Range)] = &[
    (0, 128, Range::Unspecified),
    (1, 128, Range::Loopback),
    (0, 96, Range::Ipv4Compatible),
    (0xffff_0000_0000, 96, Range::Ipv4Mapped),
    (0x0064_ff9b << 96, 96, Range::Nat64),
    (0x0064_ff9b_0001 << 80, 48, Range::Nat64LocalUse),
    (0x0100 << 112, 64, Range::Discard),
    (0x2001 << 112, 32, Range::Teredo),
    (0x2001_0002 << 96, 48, Range::Benchmarking),
    (0x2001_0db8 << 96, 32, Range::Documentation),
    (0x2002 << 112, 16, Range::SixToFour),
    (0xfc00 << 112, 7, Range::UniqueLocal),
    (0xfe80 << 112, 10, Range::LinkLocal),
    (0xfec0 << 112, 10, Range::SiteLocal),
    (0xff00 << 112, 8, Range::Multicast),
];

/// The range of `ip` from the tables above (a v4-mapped address is classified as such, not
/// as the IPv4 address inside it; see [`embedded_v4`]).
pub fn range(ip: IpAddr) -> Range {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u128::from(v4.to_bits());
            longest(
                V4_TABLE.iter().map(|(network, prefix, range)| {
                    (u128::from(u32::from_be_bytes(*network)), *prefix, *range)
                }),
                bits,
                32,
            )
        }
        IpAddr::V6(v6) => longest(V6_TABLE.iter().copied(), v6.to_bits(), 128),
    }
}

fn longest(table: impl Iterator<Item = (u128, u8, Range)>, bits: u128, width: u8) -> Range {
    table
        .filter(|(network, prefix, _)| prefix_match(*network, bits, *prefix, width))
        .max_by_key(|(_, prefix, _)| *prefix)
        .map_or(Range::Public, |(_, _, range)| range)
}

/// The IPv4 address an IPv6 address carries and would reach: v4-mapped and v4-compatible
/// (last 32 bits), NAT64 well-known prefix (last 32 bits), 6to4 (bits 16..48), Teredo (the
/// server in bits 32..64; the client address, obfuscated, in the last 32 bits — both are
/// returned through [`embedded_v4s`]).
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    embedded_v4s(ip).into_iter().flatten().next()
}

fn embedded_v4s(ip: Ipv6Addr) -> [Option<Ipv4Addr>; 2] {
    let bits = ip.to_bits();
    #[expect(
        clippy::cast_possible_truncation,
        reason = "truncation to u32 is the point: each arm takes one 32-bit field"
    )]
    let field = |shift: u32| Ipv4Addr::from_bits((bits >> shift) as u32);
    match range(IpAddr::V6(ip)) {
        Range::Ipv4Mapped | Range::Ipv4Compatible | Range::Nat64 => [Some(field(0)), None],
        Range::SixToFour => [Some(field(80)), None],
        Range::Teredo => [
            Some(field(64)),
            Some(Ipv4Addr::from_bits(!field(0).to_bits())),
        ],
        Range::Unspecified
        | Range::ThisNetwork
        | Range::Loopback
        | Range::Private
        | Range::SharedAddressSpace
        | Range::LinkLocal
        | Range::ProtocolAssignments
        | Range::Documentation
        | Range::Relay6to4Anycast
        | Range::Benchmarking
        | Range::Multicast
        | Range::Reserved
        | Range::Broadcast
        | Range::Nat64LocalUse
        | Range::Discard
        | Range::UniqueLocal
        | Range::SiteLocal
        | Range::Public => [None, None],
    }
}

/// A v4-mapped IPv6 address is the IPv4 address it maps; every other address is itself.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn mask(prefix: u8, width: u8) -> u128 {
    let all = if width == 32 {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    all & !all.checked_shr(u32::from(prefix)).unwrap_or(0)
}

fn prefix_match(network: u128, bits: u128, prefix: u8, width: u8) -> bool {
    let mask = mask(prefix, width);
    network & mask == bits & mask
}

/// Why an address may not be reached.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EgressDenied {
    #[error("{ip} is in the {range} range, which praxis never connects to")]
    Blocked { ip: IpAddr, range: Range },
    #[error("{ip} carries the IPv4 address {v4} ({range}), which praxis never connects to")]
    EmbeddedBlocked {
        ip: IpAddr,
        v4: Ipv4Addr,
        range: Range,
    },
    #[error(
        "{ip} ({range}) is outside the allowed networks ({allowed}); add its network to egress_allowed_networks"
    )]
    NotAllowed {
        ip: IpAddr,
        range: Range,
        allowed: String,
    },
    #[error("{ip} is not the address recorded in the inventory ({expected})")]
    NotInventoryAddress { ip: IpAddr, expected: IpAddr },
    #[error("the name resolved to no address")]
    NoAddress,
}

/// The configured egress allowlist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressPolicy {
    allowed: Vec<Cidr>,
}

/// The networks allowed when the configuration names none: where BMCs live.
pub const DEFAULT_ALLOWED_NETWORKS: &[&str] =
    &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"];

impl Default for EgressPolicy {
    fn default() -> EgressPolicy {
        EgressPolicy {
            allowed: DEFAULT_ALLOWED_NETWORKS
                .iter()
                .filter_map(|network| network.parse().ok())
                .collect(),
        }
    }
}

impl EgressPolicy {
    pub fn new(allowed: Vec<Cidr>) -> EgressPolicy {
        EgressPolicy { allowed }
    }

    /// Whether praxis may open a connection to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), EgressDenied> {
        let ip = canonical(ip);
        let own = range(ip);
        if own.always_blocked() {
            return Err(EgressDenied::Blocked { ip, range: own });
        }
        if let IpAddr::V6(v6) = ip {
            for v4 in embedded_v4s(v6).into_iter().flatten() {
                let inner = range(IpAddr::V4(v4));
                if inner.always_blocked() || inner == Range::Loopback {
                    return Err(EgressDenied::EmbeddedBlocked {
                        ip,
                        v4,
                        range: inner,
                    });
                }
                if !self.allowed.iter().any(|net| net.contains(IpAddr::V4(v4))) {
                    return Err(self.not_allowed(IpAddr::V4(v4), inner));
                }
            }
        }
        if self.allowed.iter().any(|net| net.contains(ip)) {
            Ok(())
        } else {
            Err(self.not_allowed(ip, own))
        }
    }

    /// Every address a name resolved to must pass [`EgressPolicy::check`] and, when the
    /// inventory records an address, be that address. Returns the addresses to pin the
    /// connection to, so nothing is resolved twice.
    pub fn check_resolved(
        &self,
        resolved: &[IpAddr],
        expected: Option<IpAddr>,
    ) -> Result<Vec<IpAddr>, EgressDenied> {
        if resolved.is_empty() {
            return Err(EgressDenied::NoAddress);
        }
        for ip in resolved {
            self.check(*ip)?;
            if let Some(expected) = expected
                && canonical(*ip) != canonical(expected)
            {
                return Err(EgressDenied::NotInventoryAddress {
                    ip: canonical(*ip),
                    expected,
                });
            }
        }
        Ok(resolved.iter().map(|ip| canonical(*ip)).collect())
    }

    fn not_allowed(&self, ip: IpAddr, range: Range) -> EgressDenied {
        let allowed = if self.allowed.is_empty() {
            "none".to_owned()
        } else {
            self.allowed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        EgressDenied::NotAllowed { ip, range, allowed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn with(networks: &[&str]) -> EgressPolicy {
        EgressPolicy::new(networks.iter().map(|n| n.parse().unwrap()).collect())
    }

    #[test]
    fn cidr_parsing_refuses_host_bits_and_bad_prefixes() {
        assert!("10.0.0.0/8".parse::<Cidr>().is_ok());
        assert!("fc00::/7".parse::<Cidr>().is_ok());
        assert!("0.0.0.0/0".parse::<Cidr>().is_ok());
        for bad in [
            "10.0.0.1/8",
            "10.0.0.0/33",
            "10.0.0.0",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "ten/8",
            "::1/129",
            "10.0.0.0/0008",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_table_classifies_the_special_ranges() {
        let cases = [
            ("0.0.0.0", Range::Unspecified),
            ("0.1.2.3", Range::ThisNetwork),
            ("127.0.0.1", Range::Loopback),
            ("10.1.2.3", Range::Private),
            ("172.31.255.255", Range::Private),
            ("172.32.0.0", Range::Public),
            ("192.168.1.1", Range::Private),
            ("100.64.0.1", Range::SharedAddressSpace),
            ("169.254.169.254", Range::LinkLocal),
            ("192.0.0.8", Range::ProtocolAssignments),
            ("192.88.99.1", Range::Relay6to4Anycast),
            ("198.19.0.1", Range::Benchmarking),
            ("203.0.113.9", Range::Documentation),
            ("224.0.0.1", Range::Multicast),
            ("240.0.0.1", Range::Reserved),
            ("255.255.255.255", Range::Broadcast),
            ("8.8.8.8", Range::Public),
            ("::", Range::Unspecified),
            ("::1", Range::Loopback),
            ("::ffff:127.0.0.1", Range::Ipv4Mapped),
            ("::127.0.0.1", Range::Ipv4Compatible),
            ("64:ff9b::7f00:1", Range::Nat64),
            ("64:ff9b:1::1", Range::Nat64LocalUse),
            ("100::1", Range::Discard),
            ("2001::1", Range::Teredo),
            ("2001:db8::1", Range::Documentation),
            ("2002:7f00:1::", Range::SixToFour),
            ("fd12::1", Range::UniqueLocal),
            ("fe80::1", Range::LinkLocal),
            ("fec0::1", Range::SiteLocal),
            ("ff02::1", Range::Multicast),
            ("2606:4700::1111", Range::Public),
        ];
        for (address, expected) in cases {
            assert_eq!(range(ip(address)), expected, "{address}");
        }
    }

    #[test]
    fn embedded_ipv4_is_extracted_from_every_translation_form() {
        let v6 = |text: &str| text.parse::<Ipv6Addr>().unwrap();
        let local = Some(Ipv4Addr::LOCALHOST);
        assert_eq!(embedded_v4(v6("::ffff:127.0.0.1")), local);
        assert_eq!(embedded_v4(v6("::127.0.0.1")), local);
        assert_eq!(embedded_v4(v6("64:ff9b::7f00:1")), local);
        assert_eq!(embedded_v4(v6("2002:7f00:1::")), local);
        assert_eq!(
            embedded_v4(v6("2002:a9fe:a9fe:1::5")),
            Some(Ipv4Addr::new(169, 254, 169, 254))
        );
        assert_eq!(embedded_v4(v6("2001:0:7f00:1::")), local);
        assert_eq!(embedded_v4(v6("fd00::1")), None);
    }

    #[test]
    fn metadata_and_other_never_ranges_stay_blocked_even_when_listed() {
        let open = with(&["0.0.0.0/0", "::/0"]);
        for address in [
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "fe80::1",
            "ff02::1",
            "2001::1",
            "::ffff:169.254.169.254",
            "192.0.2.1",
        ] {
            assert!(open.check(ip(address)).is_err(), "{address}");
        }
        assert_eq!(open.check(ip("8.8.8.8")), Ok(()));
    }

    #[test]
    fn loopback_hidden_in_ipv6_is_refused_where_praxis_py_leaked() {
        // 2002:7f00:1:: passed praxis-py's filter on Python 3.12.1.
        let lab = with(&["127.0.0.0/8", "::/0"]);
        for address in [
            "2002:7f00:1::",
            "64:ff9b::7f00:1",
            "::127.0.0.1",
            "2001:0:7f00:1::",
        ] {
            assert!(
                matches!(
                    lab.check(ip(address)),
                    Err(EgressDenied::EmbeddedBlocked { .. } | EgressDenied::Blocked { .. })
                ),
                "{address}: {:?}",
                lab.check(ip(address))
            );
        }
        // 6to4 of a private address is refused unless the IPv4 network is allowed as well.
        let v6_only = with(&["2002::/16"]);
        assert!(matches!(
            v6_only.check(ip("2002:a00:1::")),
            Err(EgressDenied::NotAllowed { .. })
        ));
        assert_eq!(
            with(&["2002::/16", "10.0.0.0/8"]).check(ip("2002:a00:1::")),
            Ok(())
        );
    }

    #[test]
    fn the_default_allows_bmc_networks_only() {
        let policy = EgressPolicy::default();
        assert_eq!(policy.check(ip("10.20.0.5")), Ok(()));
        assert_eq!(policy.check(ip("192.168.7.9")), Ok(()));
        assert_eq!(policy.check(ip("fd00::9")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:10.20.0.5")), Ok(()));
        for address in [
            "127.0.0.1",
            "::1",
            "8.8.8.8",
            "100.64.0.1",
            "::ffff:127.0.0.1",
        ] {
            assert!(
                matches!(
                    policy.check(ip(address)),
                    Err(EgressDenied::NotAllowed { .. })
                ),
                "{address}"
            );
        }
        assert_eq!(with(&["127.0.0.0/8"]).check(ip("::ffff:127.0.0.1")), Ok(()));
    }

    #[test]
    fn a_resolved_name_must_land_on_the_inventory_address() {
        let policy = with(&["127.0.0.0/8", "10.0.0.0/8"]);
        let bmc = ip("127.0.0.1");
        assert_eq!(policy.check_resolved(&[bmc], Some(bmc)), Ok(vec![bmc]));
        assert_eq!(
            policy.check_resolved(&[ip("::ffff:127.0.0.1")], Some(bmc)),
            Ok(vec![bmc])
        );
        assert!(matches!(
            policy.check_resolved(&[bmc, ip("10.0.0.2")], Some(bmc)),
            Err(EgressDenied::NotInventoryAddress { .. })
        ));
        assert_eq!(
            policy.check_resolved(&[], Some(bmc)),
            Err(EgressDenied::NoAddress)
        );
        assert!(
            policy
                .check_resolved(&[ip("169.254.169.254")], None)
                .is_err()
        );
    }

    proptest::proptest! {
        #[test]
        fn an_ipv4_address_and_its_translations_never_do_better_than_it(bits: u32, prefix in 0u8..=32) {
            let v4 = Ipv4Addr::from_bits(bits);
            let network = Ipv4Addr::from_bits(bits & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0));
            let policy = with(&[&format!("{network}/{prefix}"), "::/0"]);
            let direct = policy.check(IpAddr::V4(v4)).is_ok();
            // v4-mapped is the same address: the same answer.
            proptest::prop_assert_eq!(policy.check(IpAddr::V6(v4.to_ipv6_mapped())).is_ok(), direct);
            // Through NAT64 or 6to4 the IPv4 address is reached too: never allowed when it is not.
            let nat64 = Ipv6Addr::from_bits((0x0064_ff9b_u128 << 96) | u128::from(bits));
            let six_to_four = Ipv6Addr::from_bits((0x2002_u128 << 112) | (u128::from(bits) << 80));
            for translated in [nat64, six_to_four] {
                if policy.check(IpAddr::V6(translated)).is_ok() {
                    proptest::prop_assert!(direct, "{translated} allowed while {v4} is not");
                }
            }
        }
    }
}
