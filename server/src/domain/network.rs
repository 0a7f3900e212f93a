//! IP addresses and networks as configuration and API keys list them: an
//! address (`192.0.2.7`) or a CIDR network (`10.1.0.0/16`, `2001:db8::/32`).

use std::net::IpAddr;

/// Whether `ip` is one of `list`'s addresses or in one of its networks
/// (entries that are neither match nothing).
pub fn in_networks(ip: IpAddr, list: &[String]) -> bool {
    let ip = canonical_ip(ip);
    list.iter().filter_map(|entry| network(entry)).any(|net| contains(net, ip))
}

/// Whether every address of `entry` (an address or a network) is in
/// `list`'s addresses and networks: e.g. `10.1.2.0/24` is within
/// `10.0.0.0/8`, `10.0.0.0/8` is not within `10.1.0.0/16`.
pub fn network_within(entry: &str, list: &[String]) -> bool {
    let Some((ip, bits)) = network(entry) else { return false };
    list.iter()
        .filter_map(|e| network(e))
        .any(|(net, net_bits)| net_bits <= bits && contains((net, net_bits), ip))
}

/// An entry as a network: its (canonical) address and prefix length; an
/// address is a network of one.
fn network(entry: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = entry.split_once('/').map_or((entry, None), |(a, b)| (a, Some(b)));
    let ip = canonical_ip(addr.parse().ok()?);
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        None => max,
        Some(b) => b.parse::<u32>().ok().filter(|b| *b <= max)?,
    };
    Some((ip, bits))
}

fn contains((net, bits): (IpAddr, u32), ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(net), IpAddr::V4(a)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(a) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(a)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(a) & mask == u128::from(net) & mask
        }
        _ => false,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_is_within_a_list_only_when_all_its_addresses_are() {
        let list = vec!["10.0.0.0/8".to_owned(), "192.0.2.7".to_owned(), "2001:db8::/32".to_owned()];
        for inside in
            ["10.1.2.0/24", "10.0.0.0/8", "10.9.9.9", "192.0.2.7", "192.0.2.7/32", "2001:db8:1::/48"]
        {
            assert!(network_within(inside, &list), "{inside}");
        }
        for outside in
            ["10.0.0.0/7", "192.0.2.0/24", "192.0.2.8", "0.0.0.0/0", "2001:db8::/31", "::/0", "bad"]
        {
            assert!(!network_within(outside, &list), "{outside}");
        }
        assert!(network_within("::ffff:10.1.1.1", &list), "a mapped address is its IPv4 one");
    }
}
