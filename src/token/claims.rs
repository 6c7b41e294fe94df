//! [`Claims`]: what a callstats token says.

use serde::{Deserialize, Serialize};

/// The claims callstats reads, plus the optional ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The userID (the alias in the object form).
    #[serde(rename = "userID")]
    pub user_id: String,
    /// The callstats appID, always a string.
    #[serde(rename = "appID")]
    pub app_id: String,
    /// The keyID callstats gave for the public key.
    #[serde(rename = "keyID")]
    pub key_id: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Not before: `iat` minus the skew.
    pub nbf: u64,
    /// Expiry: `iat` plus the TTL.
    pub exp: u64,
    /// A unique token ID (128 random bits, 32 hex characters).
    pub jti: String,
    /// The conferenceID, only when
    /// [`TokenIssuerBuilder::conf_id_claim`](super::TokenIssuerBuilder::conf_id_claim) is on.
    #[serde(rename = "confID", default, skip_serializing_if = "Option::is_none")]
    pub conf_id: Option<String>,
    /// Extra claims.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The claim names callstats defines; extra claims may not use them.
pub(crate) const RESERVED_CLAIMS: [&str; 8] = ["userID", "appID", "keyID", "iat", "nbf", "exp", "jti", "confID"];
