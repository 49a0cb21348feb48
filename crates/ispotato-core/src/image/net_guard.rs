//! Which IP addresses a user-supplied URL may reach: only public unicast ones.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether loopback addresses are allowed (test and fake-platform setups only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoopbackPolicy {
    #[default]
    Refuse,
    Allow,
}

/// Returns the class of a forbidden address ("loopback", "private", ...) or `None` when the
/// address is public and may be fetched.
pub fn forbidden_class(ip: IpAddr, loopback: LoopbackPolicy) -> Option<&'static str> {
    let class = match ip {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => v6_class(v6),
    };
    match (class, loopback) {
        (Some("loopback"), LoopbackPolicy::Allow) => None,
        (class, _) => class,
    }
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() || a == 0 => "unspecified",
        (127, _, _) => "loopback",
        (10, _, _) => "private",
        (172, 16..=31, _) => "private",
        (192, 168, _) => "private",
        (169, 254, _) => "link-local",
        (100, 64..=127, _) => "shared (CGNAT)",
        (224..=239, _, _) => "multicast",
        (255, 255, 255) if ip.is_broadcast() => "broadcast",
        (240..=255, _, _) => "reserved",
        (192, 0, 0) => "reserved",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        _ => return None,
    })
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_v4(ip) {
        return v4_class(v4);
    }
    let seg = ip.segments();
    Some(match seg[0] {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        0xfc00..=0xfdff => "private",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xff00..=0xffff => "multicast",
        0x2001 if seg[1] == 0x0db8 => "documentation",
        0x2001 if seg[1] == 0 => "Teredo",
        0x0100 if seg[1..4] == [0, 0, 0] => "discard-only",
        // Local-use NAT64 (RFC 8215): the operator's own translator decides where it leads.
        0x0064 if seg[1] == 0xff9b && seg[2] == 1 => "local NAT64",
        _ if seg[..6] == [0, 0, 0, 0, 0, 0] => "reserved",
        _ => return None,
    })
}

/// The IPv4 address inside a v4-mapped (::ffff:a.b.c.d), v4-translated (::ffff:0:a.b.c.d),
/// v4-compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d) or 6to4 (2002:aabb:ccdd::) IPv6 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let seg = ip.segments();
    let tail = || Ipv4Addr::new((seg[6] >> 8) as u8, seg[6] as u8, (seg[7] >> 8) as u8, seg[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if seg[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return Some(tail());
    }
    if seg[..6] == [0, 0, 0, 0, 0, 0] && !(seg[6] == 0 && seg[7] <= 1) {
        return Some(tail());
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail());
    }
    if seg[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            seg[1] as u8,
            (seg[2] >> 8) as u8,
            seg[2] as u8,
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<&'static str> {
        forbidden_class(s.parse().unwrap(), LoopbackPolicy::Refuse)
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "93.184.215.14",
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
        ] {
            assert_eq!(class(ip), None, "{ip}");
        }
    }

    #[test]
    fn every_forbidden_v4_class_is_refused() {
        let cases = [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("10.0.0.1", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("100.127.255.254", "shared (CGNAT)"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("192.0.2.5", "documentation"),
            ("198.18.0.1", "benchmarking"),
        ];
        for (ip, want) in cases {
            assert_eq!(class(ip), Some(want), "{ip}");
        }
    }

    #[test]
    fn every_forbidden_v6_class_is_refused() {
        let cases = [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fc00::1", "private"),
            ("fd12:3456::1", "private"),
            ("fe80::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("2001:0:4136:e378::1", "Teredo"),
            // IPv4 hiding inside IPv6.
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:0:127.0.0.1", "loopback"),
            ("::ffff:0:10.0.0.1", "private"),
            ("64:ff9b:1::a00:1", "local NAT64"),
            ("64:ff9b:1:ffff::8.8.8.8", "local NAT64"),
            ("::ffff:10.1.2.3", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::192.168.0.1", "private"),
            ("2002:c0a8:0101::1", "private"),
            ("2002:7f00:0001::1", "loopback"),
        ];
        for (ip, want) in cases {
            assert_eq!(class(ip), Some(want), "{ip}");
        }
        assert_eq!(class("::ffff:8.8.8.8"), None);
    }

    #[test]
    fn loopback_allowed_only_when_asked_and_only_loopback() {
        let allow = LoopbackPolicy::Allow;
        assert_eq!(forbidden_class("127.0.0.1".parse().unwrap(), allow), None);
        assert_eq!(forbidden_class("::1".parse().unwrap(), allow), None);
        assert_eq!(forbidden_class("::ffff:127.0.0.1".parse().unwrap(), allow), None);
        assert_eq!(forbidden_class("10.0.0.1".parse().unwrap(), allow), Some("private"));
        assert_eq!(
            forbidden_class("169.254.169.254".parse().unwrap(), allow),
            Some("link-local")
        );
    }
}
