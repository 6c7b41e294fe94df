//! [`IssuedToken`]: a signed token and what it says.

use std::{
    fmt,
    sync::{Arc, OnceLock},
};

use super::Claims;
use crate::id::UserId;

/// A signed token and what it says.
///
/// `Debug` hides the JWT itself (a bearer credential) and shows the claims.
#[derive(Clone)]
pub struct IssuedToken {
    pub(super) jwt: Arc<str>,
    /// The JWT as a header value, built once: a cached token costs no copy per request.
    pub(super) header: http::HeaderValue,
    /// The userID the token is for.
    pub(super) user_id: UserId,
    /// The userID percent-encoded as a header value, built once with the token.
    pub(super) user_id_header: http::HeaderValue,
    /// The parts of the page's JSON that only depend on the token, serialized the first
    /// time the token endpoint answers with this token (the layer never needs them).
    pub(super) json: OnceLock<TokenJson>,
    pub(super) claims: Claims,
    /// The signing key instance ([`SigningKey::serial`](crate::SigningKey)).
    pub(super) key_serial: u64,
}

/// The parts of [`CallstatsContext::to_client_json`](crate::CallstatsContext::to_client_json)
/// that depend on the token alone, serialized once when it is signed: a cached token
/// answers the token endpoint with a few copies, not a serialization.
#[derive(Clone)]
pub(crate) struct TokenJson {
    /// `{"appID":"..."`
    pub(crate) head: Box<str>,
    /// `,"expiresAt":N,"issuedAt":N,"keyID":"..."`
    pub(crate) times_and_key: Box<str>,
    /// The userID as a JSON string, quotes included.
    pub(crate) user_id: Box<str>,
}

impl TokenJson {
    fn new(claims: &Claims) -> Self {
        // Strings and numbers: serializing them cannot fail.
        let string = |value: &str| serde_json::to_string(value).unwrap_or_default();
        Self {
            head: format!("{{\"appID\":{}", string(&claims.app_id)).into(),
            times_and_key: format!(
                ",\"expiresAt\":{},\"issuedAt\":{},\"keyID\":{}",
                claims.exp,
                claims.iat,
                string(&claims.key_id)
            )
            .into(),
            user_id: string(&claims.user_id).into(),
        }
    }
}

impl IssuedToken {
    /// The compact JWS, `header.payload.signature`.
    pub fn jwt(&self) -> &str {
        &self.jwt
    }

    /// The JWT as an HTTP header value, marked sensitive (header logging shows
    /// `Sensitive`, and HTTP/2 keeps it out of the HPACK table).
    pub fn header_value(&self) -> &http::HeaderValue {
        &self.header
    }

    /// The userID the token is for (its `userID` claim).
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }

    /// The userID, percent-encoded like `encodeURIComponent`, as a header value.
    pub(crate) fn user_id_header(&self) -> &http::HeaderValue {
        &self.user_id_header
    }

    /// The serial of the key that signed it ([`SigningKey`](crate::SigningKey)'s
    /// instance): a token of a key that is no longer active is not handed out.
    pub(crate) fn key_serial(&self) -> u64 {
        self.key_serial
    }

    pub(crate) fn json(&self) -> &TokenJson {
        self.json.get_or_init(|| TokenJson::new(&self.claims))
    }

    /// The claims it carries.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// `exp`, seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.claims.exp
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("jwt", &"<redacted>")
            .field("claims", &self.claims)
            .finish()
    }
}
