//! IP addresses and networks as configuration and API keys list them: an
//! address (`192.0.2.7`) or a CIDR network (`10.1.0.0/16`, `2001:db8::/32`).

use std::net::IpAddr;

/// Whether `ip` is one of `list`'s addresses or in one of its networks
/// (entries that are neither match nothing).
pub fn in_networks(ip: IpAddr, list: &[String]) -> bool {
    let ip = canonical_ip(ip);
    list.iter().any(|entry| match entry.split_once('/') {
        None => entry.parse::<IpAddr>().is_ok_and(|a| canonical_ip(a) == ip),
        Some((net, bits)) => match (net.parse::<IpAddr>().map(canonical_ip), bits.parse::<u32>()) {
            (Ok(IpAddr::V4(net)), Ok(bits)) if bits <= 32 => match ip {
                IpAddr::V4(a) => {
                    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
                    u32::from(a) & mask == u32::from(net) & mask
                }
                IpAddr::V6(_) => false,
            },
            (Ok(IpAddr::V6(net)), Ok(bits)) if bits <= 128 => match ip {
                IpAddr::V6(a) => {
                    let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
                    u128::from(a) & mask == u128::from(net) & mask
                }
                IpAddr::V4(_) => false,
            },
            _ => false,
        },
    })
}

/// Whether `entry` is an address or a network [`in_networks`] reads.
pub fn is_network(entry: &str) -> bool {
    match entry.split_once('/') {
        None => entry.parse::<IpAddr>().is_ok(),
        Some((net, bits)) => match (net.parse::<IpAddr>(), bits.parse::<u32>()) {
            (Ok(IpAddr::V4(_)), Ok(bits)) => bits <= 32,
            (Ok(IpAddr::V6(_)), Ok(bits)) => bits <= 128,
            _ => false,
        },
    }
}

/// IPv4 addresses mapped into IPv6 compare as IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}
