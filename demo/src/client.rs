//! Who the client is, for the login rate limit and the session bound: its address.
//!
//! The address is the connection's (`ConnectInfo`, inserted by `serve.rs`), or, with
//! `DEMO_TRUST_X_FORWARDED_FOR=1`, the last entry of the request's `X-Forwarded-For`:
//! the address that the proxy in front of the demo saw. Only for tests and behind such a
//! proxy: a client that reaches the demo directly writes that header itself and would
//! pick any address it likes.
//!
//! One client is an IPv4 address or an IPv6 /64 (one subscriber usually has a whole /64).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::Response,
};
use http::HeaderMap;
use tower_governor::{GovernorError, key_extractor::KeyExtractor};

/// A client: its IPv4 address, or its IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    /// Requests without an address (none reach the demo this way) share one key.
    const UNKNOWN: Self = Self(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));

    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => Self(IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX)))),
            v4 => Self(v4),
        }
    }
}

/// Whether `X-Forwarded-For` names the client (`DEMO_TRUST_X_FORWARDED_FOR=1`).
#[derive(Debug, Clone, Copy)]
pub struct TrustForwardedFor(pub bool);

/// The last address of the last `X-Forwarded-For` header: the one the proxy in front of
/// the demo appended. `1.2.3.4`, `2001:db8::1`, `[2001:db8::1]:443` and `1.2.3.4:5678`
/// are read; anything else is no address.
fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers.get_all("x-forwarded-for").iter().next_back()?;
    let entry = last.to_str().ok()?.rsplit(',').next()?.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
}

/// Middleware: puts the request's [`ClientKey`] into its extensions.
pub async fn identify(State(trust): State<TrustForwardedFor>, mut request: Request, next: Next) -> Response {
    let forwarded = if trust.0 {
        forwarded_for(request.headers())
    } else {
        None
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let client = forwarded.or(peer).map_or(ClientKey::UNKNOWN, ClientKey::of);
    request.extensions_mut().insert(client);
    next.run(request).await
}

/// The login rate limit's key: the request's [`ClientKey`].
#[derive(Debug, Clone, Copy)]
pub struct ByClient;

impl KeyExtractor for ByClient {
    type Key = ClientKey;

    fn extract<T>(&self, request: &http::Request<T>) -> Result<ClientKey, GovernorError> {
        Ok(request
            .extensions()
            .get::<ClientKey>()
            .copied()
            .unwrap_or(ClientKey::UNKNOWN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_their_64_and_mapped_ipv4_is_ipv4() {
        let key = |s: &str| ClientKey::of(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
    }

    #[test]
    fn the_last_forwarded_address_counts() {
        let headers = |values: &[&str]| {
            let mut map = HeaderMap::new();
            for v in values {
                map.append("x-forwarded-for", v.parse().unwrap());
            }
            map
        };
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(forwarded_for(&headers(&["203.0.113.9"])), ip("203.0.113.9"));
        assert_eq!(forwarded_for(&headers(&["10.0.0.1, 203.0.113.9"])), ip("203.0.113.9"));
        assert_eq!(
            forwarded_for(&headers(&["10.0.0.1", "198.51.100.2"])),
            ip("198.51.100.2")
        );
        assert_eq!(forwarded_for(&headers(&["[2001:db8::1]:443"])), ip("2001:db8::1"));
        assert_eq!(forwarded_for(&headers(&["1.2.3.4:5678"])), ip("1.2.3.4"));
        assert_eq!(forwarded_for(&headers(&["unknown"])), None);
        assert_eq!(forwarded_for(&headers(&[])), None);
    }
}
