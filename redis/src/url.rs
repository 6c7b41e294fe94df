//! Redis URLs: parsing them into a fred [`Config`], and never showing their password.

use fred::{error::Error as FredError, prelude::Config};
use tower_callstats::ConfigError;

/// The fred configuration of `url`: `redis://`, `rediss://` (with the `tls` feature),
/// `redis-sentinel://` and `redis-cluster://` (and their `rediss-` forms), as
/// [`Config::from_url`] reads them. A `rediss` URL without the `tls` feature is refused:
/// fred would connect in plain text (it only logs a warning).
pub(crate) fn config(url: &str) -> Result<Config, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidValue {
        what: "Redis URL",
        value: redact_url(url),
        reason,
    };
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    let topology = scheme
        .strip_prefix("rediss")
        .or_else(|| scheme.strip_prefix("redis"))
        .or_else(|| scheme.strip_prefix("valkeys"))
        .or_else(|| scheme.strip_prefix("valkey"));
    if !matches!(topology, Some("" | "-cluster" | "-sentinel")) {
        return Err(invalid(
            "the scheme must be redis, rediss, redis-sentinel, rediss-sentinel, redis-cluster or rediss-cluster".into(),
        ));
    }
    if !cfg!(feature = "tls") && (scheme.starts_with("rediss") || scheme.starts_with("valkeys")) {
        return Err(invalid(
            "a TLS URL needs tower-callstats-redis' `tls` feature (without it the connection would be plain text)"
                .into(),
        ));
    }
    Config::from_url(url).map_err(|error: FredError| invalid(redact_secret(url, error.details())))
}

/// The URL with its `user:password@` part replaced by `***@`.
pub(crate) fn redact_url(url: &str) -> String {
    match userinfo(url) {
        Some((start, end)) => format!("{}***{}", &url[..start], &url[end..]),
        None => url.to_owned(),
    }
}

/// `text` with any occurrence of the URL's password (or whole user info) replaced.
fn redact_secret(url: &str, text: &str) -> String {
    let mut text = text.to_owned();
    if let Some((start, end)) = userinfo(url) {
        let info = &url[start..end];
        let password = info.split_once(':').map_or(info, |(_, password)| password);
        for secret in [info, password] {
            if !secret.is_empty() {
                text = text.replace(secret, "***");
            }
        }
    }
    text
}

/// The byte range of the URL's user info (between `://` and the last `@` before the
/// path), if any.
fn userinfo(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    Some((start, start + at))
}

#[cfg(test)]
mod tests {
    use fred::prelude::{Server, ServerConfig};

    use super::*;

    #[test]
    fn urls_are_redacted() {
        // Expected strings written out by hand: the user info between `://` and `@` is
        // replaced, nothing else.
        assert_eq!(redact_url("redis://:hunter2@host:6379/0"), "redis://***@host:6379/0");
        assert_eq!(redact_url("redis://user:hunter2@host"), "redis://***@host");
        assert_eq!(redact_url("rediss://u:p%40ss@h:1/2?x=y"), "rediss://***@h:1/2?x=y");
        assert_eq!(redact_url("redis://host:6379/0?x=a@b"), "redis://host:6379/0?x=a@b");
        assert_eq!(redact_url("redis://host#a@b"), "redis://host#a@b");
        assert_eq!(redact_url("not a url"), "not a url");
        assert_eq!(redact_url("redis://a@b@host/0"), "redis://***@host/0");
        assert_eq!(redact_secret("redis://u:hunter2@h", "bad hunter2 here"), "bad *** here");
        assert_eq!(redact_secret("redis://u:hunter2@h", "u:hunter2 again"), "*** again");
        assert_eq!(redact_secret("redis://h", "nothing to hide"), "nothing to hide");
    }

    #[test]
    fn a_bad_url_is_a_config_error_without_the_password() {
        for url in [
            "redis://:hunter2@host:notaport/0",
            "nope://:hunter2@host",
            "redis://:hunter2@",
            "redis-sentinel://:hunter2@host:26379/0", // no sentinelServiceName
            "redis+unix://:hunter2@host/tmp/redis.sock",
            "REDIS://:hunter2@host",
        ] {
            let error = config(url).unwrap_err();
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("Redis URL"), "{shown}");
        }
    }

    #[test]
    fn the_schemes_users_have_are_read() {
        let server = |url: &str| config(url).unwrap().server;
        assert_eq!(
            server("redis://10.0.0.1:6380/2"),
            ServerConfig::new_centralized("10.0.0.1", 6380)
        );
        assert_eq!(config("redis://h/3").unwrap().database, Some(3));
        let ServerConfig::Sentinel {
            hosts, service_name, ..
        } = server("redis-sentinel://s1:26379/0?sentinelServiceName=mymaster&node=s2:26380")
        else {
            panic!("not a sentinel configuration")
        };
        assert_eq!(service_name, "mymaster");
        assert!(hosts.contains(&Server::new("s1", 26379)) && hosts.contains(&Server::new("s2", 26380)));
        let ServerConfig::Clustered { hosts, .. } = server("redis-cluster://c1:7000?node=c2:7001") else {
            panic!("not a cluster configuration")
        };
        assert!(hosts.contains(&Server::new("c1", 7000)) && hosts.contains(&Server::new("c2", 7001)));
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn tls_urls_need_the_tls_feature() {
        for url in [
            "rediss://:hunter2@h:6380",
            "rediss-cluster://h:7000",
            "rediss-sentinel://h/0?sentinelServiceName=m",
        ] {
            let error = config(url).unwrap_err().to_string();
            assert!(error.contains("`tls` feature") && !error.contains("hunter2"), "{error}");
        }
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_urls_get_a_tls_configuration() {
        assert!(config("rediss://h:6380").unwrap().tls.is_some());
        assert!(config("redis://h:6380").unwrap().tls.is_none());
    }
}
