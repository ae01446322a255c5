//! Who the client is and which URL it used, behind a TLS-terminating proxy.
//!
//! The gateway's own view (the TCP peer, the `Host` header, plain HTTP)
//! is wrong behind a proxy: `Location`, `meta.location` and `$ref` would
//! name `http://internal-host/...`. `[server] public_url` fixes the URL
//! outright. Otherwise `Forwarded` (RFC 7239) or `X-Forwarded-Proto` /
//! `X-Forwarded-Host` / `X-Forwarded-For` are read, but only from a peer in
//! `[server] trusted_proxies`: anyone else could claim any host. Of a list
//! of values the rightmost counts, the one the nearest (trusted) proxy
//! wrote; a client's own value further left is ignored.

use std::net::IpAddr;

use ipnet::IpNet;

/// How the listener resolves the client's view of a request.
#[derive(Debug, Clone, Default)]
pub struct ForwardedPolicy {
    /// `https://scim.example.com` (any path prefix kept), no trailing slash.
    pub public_url: Option<String>,
    pub trusted_proxies: Vec<IpNet>,
}

/// The request as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    /// The client's address: the peer, or what a trusted proxy says it saw.
    pub ip: IpAddr,
    /// `https://host:port` (plus a path prefix with `public_url`): the root
    /// the SCIM base hangs off.
    pub origin: String,
}

/// The headers this module reads, as the listener found them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardingHeaders<'a> {
    pub host: Option<&'a str>,
    pub forwarded: Option<&'a str>,
    pub x_forwarded_proto: Option<&'a str>,
    pub x_forwarded_host: Option<&'a str>,
    pub x_forwarded_for: Option<&'a str>,
}

impl ForwardedPolicy {
    /// The client's view of a request from `peer` with `headers`.
    pub fn resolve(&self, peer: IpAddr, headers: ForwardingHeaders<'_>) -> ClientView {
        let trusted = self.trusted_proxies.iter().any(|net| net.contains(&peer));
        let (mut proto, mut host, mut ip) = ("http".to_owned(), headers.host.map(str::to_owned), peer);
        if trusted {
            let element = headers.forwarded.and_then(last);
            let from_element = |name: &str| element.as_ref().and_then(|e| pair(e, name));
            if let Some(p) = from_element("proto").or_else(|| headers.x_forwarded_proto.and_then(last)) {
                proto = p.to_ascii_lowercase();
            }
            if let Some(h) = from_element("host").or_else(|| headers.x_forwarded_host.and_then(last)) {
                host = Some(h);
            }
            let forwarded_for = from_element("for").or_else(|| headers.x_forwarded_for.and_then(last));
            if let Some(addr) = forwarded_for.as_deref().and_then(parse_node) {
                ip = addr;
            }
        }
        let origin = match &self.public_url {
            Some(url) => url.clone(),
            None => {
                let proto = if proto == "https" { "https" } else { "http" };
                let host = host.filter(|h| valid_host(h)).unwrap_or_else(|| "localhost".to_owned());
                format!("{proto}://{host}")
            }
        };
        ClientView { ip, origin }
    }
}

/// A `Host`-like value that is safe to put in a URL.
pub fn valid_host(h: &str) -> bool {
    !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
}

/// The rightmost of a comma-separated header's values, trimmed (for
/// `Forwarded`: its last element, whose pairs are `;`-separated).
fn last(list: &str) -> Option<String> {
    list.rsplit(',').map(str::trim).find(|v| !v.is_empty()).map(str::to_owned)
}

/// The value of `name=` in a `Forwarded` element, unquoted.
fn pair(element: &str, name: &str) -> Option<String> {
    element.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// An address from `for=` or `X-Forwarded-For`: `1.2.3.4`, `1.2.3.4:5`,
/// `[::1]`, `[::1]:5`, `::1`. Obfuscated identifiers (`_hidden`,
/// `unknown`) are no address.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.rsplit_once(':').and_then(|(ip, _port)| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(trusted: &[&str], public_url: Option<&str>) -> ForwardedPolicy {
        ForwardedPolicy {
            public_url: public_url.map(str::to_owned),
            trusted_proxies: trusted.iter().map(|n| n.parse().unwrap()).collect(),
        }
    }

    const PROXY: &str = "10.0.0.5";

    #[test]
    fn a_trusted_proxy_names_the_public_origin_and_the_client() {
        let p = policy(&["10.0.0.0/8"], None);
        let headers = ForwardingHeaders {
            host: Some("gateway:8080"),
            x_forwarded_proto: Some("https"),
            x_forwarded_host: Some("scim.example.com"),
            x_forwarded_for: Some("203.0.113.9"),
            ..Default::default()
        };
        let view = p.resolve(PROXY.parse().unwrap(), headers);
        assert_eq!(view.origin, "https://scim.example.com");
        assert_eq!(view.ip, "203.0.113.9".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn rfc_7239_forwarded_wins_and_its_rightmost_element_counts() {
        let p = policy(&["10.0.0.0/8"], None);
        let headers = ForwardingHeaders {
            host: Some("gateway"),
            forwarded: Some(
                "for=198.51.100.1;host=evil.example;proto=http, for=\"[2001:db8::7]:443\";proto=https;host=scim.example.com",
            ),
            x_forwarded_host: Some("ignored.example"),
            ..Default::default()
        };
        let view = p.resolve(PROXY.parse().unwrap(), headers);
        assert_eq!(view.origin, "https://scim.example.com");
        assert_eq!(view.ip, "2001:db8::7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn an_untrusted_peer_cannot_claim_another_host() {
        let p = policy(&["10.0.0.0/8"], None);
        let headers = ForwardingHeaders {
            host: Some("gateway:8080"),
            x_forwarded_proto: Some("https"),
            x_forwarded_host: Some("evil.example"),
            x_forwarded_for: Some("1.1.1.1"),
            ..Default::default()
        };
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        let view = p.resolve(peer, headers);
        assert_eq!(view.origin, "http://gateway:8080");
        assert_eq!(view.ip, peer);
    }

    #[test]
    fn a_client_value_left_of_the_proxys_is_ignored() {
        let p = policy(&["10.0.0.0/8"], None);
        let headers = ForwardingHeaders {
            x_forwarded_host: Some("evil.example, scim.example.com"),
            x_forwarded_for: Some("6.6.6.6, 203.0.113.9"),
            ..Default::default()
        };
        let view = p.resolve(PROXY.parse().unwrap(), headers);
        assert_eq!(view.origin, "http://scim.example.com");
        assert_eq!(view.ip, "203.0.113.9".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn public_url_decides_the_origin_whatever_the_headers() {
        let p = policy(&["10.0.0.0/8"], Some("https://idp-facing.example.com/gw"));
        let headers = ForwardingHeaders { host: Some("x"), x_forwarded_host: Some("y"), ..Default::default() };
        assert_eq!(p.resolve(PROXY.parse().unwrap(), headers).origin, "https://idp-facing.example.com/gw");
    }

    #[test]
    fn unusable_values_fall_back() {
        let p = policy(&["0.0.0.0/0"], None);
        let headers = ForwardingHeaders {
            host: Some("bad host/../"),
            x_forwarded_proto: Some("gopher"),
            x_forwarded_for: Some("unknown"),
            ..Default::default()
        };
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let view = p.resolve(peer, headers);
        assert_eq!(view.origin, "http://localhost");
        assert_eq!(view.ip, peer);
    }
}
