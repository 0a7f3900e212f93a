//! Where Kurier may connect on a user's behalf: status callbacks, inbound
//! webhooks, keyword forwards and notification attachments all go to URLs
//! that users give. Link-local addresses (among them the cloud metadata
//! service at 169.254.169.254), the unspecified address, multicast and
//! broadcast are always refused, and so is every network the operator
//! lists in `server.outbound_denied_networks`. Loopback and private
//! networks are allowed unless listed: a self-hosted Kurier usually calls
//! back into its own network.
//!
//! The check is made on the address connected to, not on the name: an
//! [`OutboundPolicy`] is the clients' DNS resolver, so a name that resolves
//! to a refused address (or comes to, between a check and a connection)
//! is never connected to; addresses written in a URL are checked before
//! the request ([`OutboundPolicy::check_url`]) and on every redirect.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::{canonical_ip, in_networks};

/// Why a URL is refused.
pub const REFUSED: &str = "Kurier may not connect to this address";

/// The addresses Kurier may connect to for users.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    denied: Arc<Vec<String>>,
}

impl OutboundPolicy {
    /// The built-in refusals and the operator's `denied` networks.
    pub fn new(denied: Vec<String>) -> Self {
        Self { denied: Arc::new(denied) }
    }

    /// Whether Kurier may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        !always_refused(ip) && !in_networks(ip, &self.denied)
    }

    /// Refuses a URL whose host is an address Kurier may not connect to
    /// (a name is checked when it is resolved).
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), String> {
        let Some(host) = url.host_str() else { return Err("the URL has no host".into()) };
        // The URL parser writes any form of an address (`2130706433`,
        // `0x7f.1`) as dotted decimals, and IPv6 in brackets.
        let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() else {
            return Ok(());
        };
        if self.allows(ip) { Ok(()) } else { Err(format!("{REFUSED} ({ip})")) }
    }

    /// `url` parsed, if it may be requested: the URL to send the request to.
    pub fn allowed_url(&self, url: &str) -> Result<reqwest::Url, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
        self.check_url(&parsed)?;
        Ok(parsed)
    }

    /// A client builder that connects only where this policy allows, and
    /// follows at most `max_redirects` redirects (each checked too).
    pub fn client_builder(&self, max_redirects: usize) -> reqwest::ClientBuilder {
        let policy = self.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= max_redirects {
                return attempt.stop();
            }
            match policy.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(why) => attempt.error(why),
            }
        });
        reqwest::Client::builder().dns_resolver(Arc::new(self.clone())).redirect(redirects)
    }
}

/// Longest URL a user may give.
pub const MAX_URL_LEN: usize = 2_048;

/// What a URL a user gives must be, as an error says it.
pub const USER_URL_RULE: &str = "must be an absolute http:// or https:// URL of an address Kurier may call";

/// Whether `url` is one a user may give Kurier to call: an absolute
/// `http://` or `https://` URL with a host, at most [`MAX_URL_LEN`] long,
/// whose host is not an address always refused (the operator's list is
/// applied when it is called).
pub fn is_user_url(url: &str) -> bool {
    url.len() <= MAX_URL_LEN
        && (url.starts_with("http://") || url.starts_with("https://"))
        && reqwest::Url::parse(url).is_ok_and(|u| {
            u.host_str().is_some_and(|h| !h.is_empty()) && OutboundPolicy::default().check_url(&u).is_ok()
        })
}

/// The policy's refusal behind an error of a client it built, if that is
/// what the error is (reqwest reports it as a failed connection).
pub fn refusal(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source = Some(e);
    while let Some(s) = source {
        let said = s.to_string();
        if said.contains(REFUSED) {
            return Some(said);
        }
        source = s.source();
    }
    None
}

/// Addresses no user's URL may reach, whatever the configuration.
fn always_refused(ip: IpAddr) -> bool {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => {
            v4.is_link_local() || v4.is_unspecified() || v4.is_multicast() || v4 == Ipv4Addr::BROADCAST
        }
        IpAddr::V6(v6) => {
            v6.is_unspecified() || v6.is_multicast() || (v6.segments()[0] & 0xffc0) == 0xfe80 // fe80::/10
        }
    }
}

impl Resolve for OutboundPolicy {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found.iter().copied().filter(|a| policy.allows(a.ip())).collect();
            if allowed.is_empty() && !found.is_empty() {
                return Err(format!("{REFUSED}: {host} resolves to {}", found[0].ip()).into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_link_local_and_unspecified_are_always_refused() {
        let open = OutboundPolicy::default();
        for ip in [
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "fe80::1",
            "::",
            "::ffff:169.254.1.1",
        ] {
            assert!(!open.allows(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["127.0.0.1", "10.1.2.3", "192.168.1.1", "8.8.8.8", "::1", "2001:db8::1"] {
            assert!(open.allows(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn the_operator_refuses_more() {
        let closed = OutboundPolicy::new(vec!["10.0.0.0/8".into(), "127.0.0.1".into()]);
        assert!(!closed.allows("10.9.9.9".parse().unwrap()));
        assert!(!closed.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(closed.allows("192.168.1.1".parse().unwrap()));
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        assert!(closed.check_url(&url("http://10.0.0.5:6379/")).is_err());
        assert!(closed.check_url(&url("http://[::ffff:a00:5]/")).is_err());
        assert!(closed.check_url(&url("http://0x0a.1/")).is_err(), "any form of an address");
        assert!(
            closed.check_url(&url("http://billing.internal/")).is_ok(),
            "names are checked when resolved"
        );
    }

    #[test]
    fn user_urls_are_absolute_http_with_a_host_kurier_may_call() {
        for ok in ["http://billing.local/hook", "https://10.0.0.5:8443/x?y=1", "http://[::1]:8080/"] {
            assert!(is_user_url(ok), "{ok}");
        }
        let long = format!("https://x.example/{}", "a".repeat(MAX_URL_LEN));
        for bad in
            ["ftp://x.example/", "http://", "/relative", "http://169.254.169.254/latest/meta-data/", &long]
        {
            assert!(!is_user_url(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_only_to_refused_addresses_is_refused() {
        let closed = OutboundPolicy::new(vec!["127.0.0.0/8".into(), "::1".into()]);
        let e = closed.resolve("localhost".parse().unwrap()).await.err().expect("refused");
        assert!(e.to_string().contains(REFUSED), "{e}");
        let open = OutboundPolicy::default();
        let addrs: Vec<SocketAddr> = open.resolve("localhost".parse().unwrap()).await.unwrap().collect();
        assert!(!addrs.is_empty());
    }
}
