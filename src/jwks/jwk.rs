//! The JSON Web Key types: [`Jwk`] and [`JwkSet`].

/// A public key in JSON Web Key form.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Jwk {
    /// Always `EC`.
    pub kty: &'static str,
    /// Always `P-256`.
    pub crv: &'static str,
    /// The x coordinate, base64url.
    pub x: String,
    /// The y coordinate, base64url.
    pub y: String,
    /// The keyID.
    pub kid: String,
    /// Always `ES256`.
    pub alg: &'static str,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// A JSON Web Key Set: `{"keys": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}
