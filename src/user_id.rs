//! How the callstats userID is derived from the authenticated [`AppUser`].

use std::{fmt, sync::Arc};

use aws_lc_rs::hmac;
use sha1::{Digest, Sha1};

use crate::{
    encoding::hex,
    error::ConfigError,
    id::{IdError, UserId},
    user::AppUser,
};

/// The object form's limit on `userName` and `aliasName`, in characters.
pub(crate) const MAX_OBJECT_FORM_CHARS: usize = 128;

/// The shortest secret [`UserIdStrategy::ephemeral`] accepts, in bytes.
pub(crate) const MIN_EPHEMERAL_SECRET_BYTES: usize = 16;

type CustomFn = dyn Fn(&AppUser) -> Result<UserId, IdError> + Send + Sync;

#[derive(Clone)]
enum Kind {
    Raw,
    Sha1 { default_domain: Arc<str> },
    Ephemeral { key: Box<hmac::Key> },
    Custom(Arc<CustomFn>),
}

/// How to derive the callstats userID from an [`AppUser`].
///
/// [callstats' identifier rules] name three ways, all available here, plus a closure:
///
/// | strategy | userID | when |
/// | --- | --- | --- |
/// | [`UserIdStrategy::raw`] | the username as is | support staff search by user name |
/// | [`UserIdStrategy::sha1`] | lowercase hex SHA1 of `username@domain` (40 characters); the domain must not contain `@` | searchable, but not readable |
/// | [`UserIdStrategy::ephemeral`] | keyed hash (HMAC-SHA256) of the session ID | callstats' preference when nobody searches by user |
/// | [`UserIdStrategy::custom`] | whatever the closure returns | anything else |
///
/// [`UserIdStrategy::object_form`] turns any of them into callstats.js' object form
/// `{userName, aliasName}`: the real username for support staff, the derived ID as the
/// alias for engineers. The client authenticates with the alias, so the token's
/// `userID` claim is the alias.
///
/// [callstats' identifier rules]: https://docs.callstats.io/docs/identifiers-userids-conferenceids
///
/// # The SHA1 domain
///
/// `username@domain` must name one user only, so the domain may not contain `@`:
/// otherwise (`bob@evil`, `example.com`) and (`bob`, `evil@example.com`) would both hash
/// `bob@evil@example.com` and get the same userID. The username may contain `@` (an
/// e-mail address), because the domain is then everything after the last `@`.
/// [`UserIdStrategy::sha1`] refuses a default domain that is empty or contains `@` or a
/// control character, at start-up; a user whose own domain
/// ([`AppUser::with_domain`]) is like that gets
/// [`DeriveError::Invalid`]`(`[`IdError::InvalidDomain`]`)`, which the layer and the
/// endpoint answer with `400 invalid_user_id`.
///
/// ```
/// use tower_callstats::{AppUser, UserIdStrategy};
///
/// let alice = AppUser::new("alice").with_domain("example.com").with_session_id("s3cr3t-session");
///
/// let raw = UserIdStrategy::raw().derive(&alice).unwrap();
/// assert_eq!(raw.id().as_str(), "alice");
///
/// let hashed = UserIdStrategy::sha1("fallback.example").unwrap().derive(&alice).unwrap();
/// assert_eq!(hashed.id().as_str(), "fc2398a73dd54d6237c4fdb58fd7d75347cf5af3"); // sha1("alice@example.com")
///
/// let strategy = UserIdStrategy::ephemeral(b"a server secret of at least 16 bytes").unwrap();
/// let once = strategy.derive(&alice).unwrap();
/// assert_eq!(once, strategy.derive(&alice).unwrap()); // stable for the session
/// assert!(!once.id().as_str().contains("alice"));
///
/// let object = UserIdStrategy::sha1("example.com").unwrap().object_form(true).derive(&alice).unwrap();
/// assert_eq!(object.user_name(), Some("alice"));
/// assert_eq!(object.id().as_str(), "fc2398a73dd54d6237c4fdb58fd7d75347cf5af3"); // the alias
/// ```
///
/// The default is [`UserIdStrategy::raw`].
#[derive(Clone)]
pub struct UserIdStrategy {
    kind: Kind,
    object_form: bool,
}

impl Default for UserIdStrategy {
    fn default() -> Self {
        Self::raw()
    }
}

impl fmt::Debug for UserIdStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Raw => "raw".to_owned(),
            Kind::Sha1 { default_domain } => format!("sha1(username@{{domain or {default_domain:?}}})"),
            Kind::Ephemeral { .. } => "ephemeral(<secret redacted>)".to_owned(),
            Kind::Custom(_) => "custom".to_owned(),
        };
        f.debug_struct("UserIdStrategy")
            .field("kind", &kind)
            .field("object_form", &self.object_form)
            .finish()
    }
}

/// Why no userID could be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeriveError {
    /// The derived value is not a valid identifier (empty, too long, ...).
    #[error(transparent)]
    Invalid(#[from] IdError),
    /// The ephemeral strategy needs [`AppUser::with_session_id`], and the identity has
    /// no session ID.
    #[error(
        "the ephemeral userID strategy needs a session ID, and the user has none (set it with AppUser::with_session_id)"
    )]
    MissingSessionId,
}

impl UserIdStrategy {
    /// The username as is.
    pub fn raw() -> Self {
        Self {
            kind: Kind::Raw,
            object_form: false,
        }
    }

    /// Lowercase hex SHA1 of `username@domain`. The domain is the user's own
    /// ([`AppUser::with_domain`]) or, when it has none, `default_domain`.
    ///
    /// A domain must not be empty or contain `@` or a control character: `@` in the
    /// domain would make two users hash to one userID (see the [module
    /// docs](UserIdStrategy#the-sha1-domain)). `default_domain` is checked here, an
    /// user's own domain when the userID is derived.
    ///
    /// ```
    /// use tower_callstats::UserIdStrategy;
    ///
    /// assert!(UserIdStrategy::sha1("example.com").is_ok());
    /// let err = UserIdStrategy::sha1("evil@example.com").unwrap_err();
    /// assert!(err.to_string().contains("contains '@' at byte 4"), "{err}");
    /// ```
    pub fn sha1(default_domain: impl Into<Arc<str>>) -> Result<Self, ConfigError> {
        let default_domain = default_domain.into();
        if let Err(reason) = domain_problem(&default_domain) {
            return Err(ConfigError::InvalidValue {
                what: "the SHA1 userID's default domain",
                value: default_domain.to_string(),
                reason: format!("{reason}; use a domain such as example.com"),
            });
        }
        Ok(Self {
            kind: Kind::Sha1 { default_domain },
            object_form: false,
        })
    }

    /// A userID that is stable for a session and reveals nothing about the user:
    /// the first 128 bits of HMAC-SHA256(`secret`, session ID), as 32 lowercase hex
    /// characters. The user must carry a session ID.
    ///
    /// `secret` must be at least 16 bytes; keep it stable across restarts if userIDs
    /// must survive them.
    pub fn ephemeral(secret: &[u8]) -> Result<Self, ConfigError> {
        if secret.len() < MIN_EPHEMERAL_SECRET_BYTES {
            return Err(ConfigError::WeakSecret {
                len: secret.len(),
                min: MIN_EPHEMERAL_SECRET_BYTES,
            });
        }
        Ok(Self {
            kind: Kind::Ephemeral {
                key: Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret)),
            },
            object_form: false,
        })
    }

    /// Any userID the closure returns.
    pub fn custom<F>(f: F) -> Self
    where
        F: Fn(&AppUser) -> Result<UserId, IdError> + Send + Sync + 'static,
    {
        Self {
            kind: Kind::Custom(Arc::new(f)),
            object_form: false,
        }
    }

    /// Whether to use callstats.js' object form `{userName, aliasName}`: `userName` is
    /// the user's username, `aliasName` (and the token's `userID` claim) is what this
    /// strategy derives. Both must be at most 128 characters. Default `false`.
    #[must_use]
    pub fn object_form(mut self, on: bool) -> Self {
        self.object_form = on;
        self
    }

    /// Derives the userID for `user`.
    pub fn derive(&self, identity: &AppUser) -> Result<CallstatsUser, DeriveError> {
        let id = match &self.kind {
            Kind::Raw => UserId::from_arc(identity.username_shared().clone())?,
            Kind::Sha1 { default_domain } => {
                let domain = match identity.domain() {
                    Some(own) => {
                        domain_problem(own).map_err(|reason| IdError::InvalidDomain {
                            domain: own.to_owned(),
                            reason,
                        })?;
                        own
                    }
                    None => default_domain,
                };
                let mut hasher = Sha1::new();
                hasher.update(identity.username().as_bytes());
                hasher.update(b"@");
                hasher.update(domain.as_bytes());
                UserId::new(hex(&hasher.finalize()))?
            }
            Kind::Ephemeral { key } => {
                let session = identity.session_id().ok_or(DeriveError::MissingSessionId)?;
                let tag = hmac::sign(key, session.as_bytes());
                UserId::new(hex(&tag.as_ref()[..16]))?
            }
            Kind::Custom(f) => f(identity)?,
        };
        if !self.object_form {
            return Ok(CallstatsUser { id, user_name: None });
        }
        let user_name = identity.username();
        if user_name.is_empty() {
            return Err(IdError::Empty { kind: "userName" }.into());
        }
        check_chars(user_name, "userName")?;
        check_chars(&id, "aliasName")?;
        Ok(CallstatsUser {
            id,
            user_name: Some(Arc::from(user_name)),
        })
    }
}

/// Checks a domain for `username@domain` (not empty, no `@`, no control characters)
/// and says what is wrong with it.
fn domain_problem(domain: &str) -> Result<(), String> {
    let reason = if domain.is_empty() {
        "it is empty".to_owned()
    } else if let Some(at) = domain.find('@') {
        format!(
            "it contains '@' at byte {at}, which would make username@domain ambiguous \
             ((\"bob@evil\", \"example.com\") and (\"bob\", \"evil@example.com\") would get the same userID)"
        )
    } else if let Some((at, c)) = domain.char_indices().find(|(_, c)| c.is_control()) {
        format!("it contains the control character U+{:04X} at byte {at}", c as u32)
    } else {
        return Ok(());
    };
    Err(reason)
}

fn check_chars(value: &str, kind: &'static str) -> Result<(), IdError> {
    let len = value.chars().count();
    if len > MAX_OBJECT_FORM_CHARS {
        return Err(IdError::TooManyChars {
            kind,
            len,
            max: MAX_OBJECT_FORM_CHARS,
        });
    }
    crate::id::validate(value, kind)
}

/// The callstats user of a request: the userID that goes into the token and, in the
/// object form, the real user name that only the page sees.
///
/// Serializes as what `callstats.initialize()` takes as `localUserID`: a string, or
/// `{"userName": ..., "aliasName": ...}`.
///
/// ```
/// use tower_callstats::{AppUser, UserIdStrategy};
///
/// let user = UserIdStrategy::raw().object_form(true).derive(&AppUser::new("Ann")).unwrap();
/// assert_eq!(serde_json::to_string(&user).unwrap(), r#"{"userName":"Ann","aliasName":"Ann"}"#);
/// let user = UserIdStrategy::raw().derive(&AppUser::new("Ann")).unwrap();
/// assert_eq!(serde_json::to_string(&user).unwrap(), r#""Ann""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallstatsUser {
    id: UserId,
    user_name: Option<Arc<str>>,
}

impl CallstatsUser {
    /// The userID that goes into the token's `userID` claim (the `aliasName` in the
    /// object form).
    pub fn id(&self) -> &UserId {
        &self.id
    }

    /// The real user name, in the object form.
    pub fn user_name(&self) -> Option<&str> {
        self.user_name.as_deref()
    }
}

impl serde::Serialize for CallstatsUser {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match &self.user_name {
            None => s.serialize_str(&self.id),
            Some(name) => {
                let mut st = s.serialize_struct("CallstatsUser", 2)?;
                st.serialize_field("userName", &**name)?;
                st.serialize_field("aliasName", self.id.as_str())?;
                st.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors computed independently with `sha1sum` and Python's hashlib.
    #[test]
    fn sha1_matches_known_vectors() {
        let cases = [
            (
                AppUser::new("alice"),
                "example.com",
                "fc2398a73dd54d6237c4fdb58fd7d75347cf5af3",
            ),
            (
                AppUser::new("インターネット"),
                "例え.jp",
                "6b2aec92867c752f8aa825d902a0996e361c5672",
            ),
            (
                AppUser::new("Bob"),
                "Example.COM",
                "4084ccde35971d01aab0513986d0ee523c4a6526",
            ),
            (
                AppUser::new("alice").with_domain("example.com"),
                "ignored.example",
                "fc2398a73dd54d6237c4fdb58fd7d75347cf5af3",
            ),
        ];
        for (identity, domain, expected) in cases {
            let user = UserIdStrategy::sha1(domain).unwrap().derive(&identity).unwrap();
            assert_eq!(user.id().as_str(), expected);
            assert_eq!(user.id().len(), 40);
        }
    }

    #[test]
    fn ephemeral_is_the_keyed_hash_of_the_session_id() {
        // python3 -c "import hmac,hashlib;print(hmac.new(b'0123456789abcdef0123456789abcdef', b'session-1', hashlib.sha256).hexdigest())"
        let strategy = UserIdStrategy::ephemeral(b"0123456789abcdef0123456789abcdef").unwrap();
        let user = strategy
            .derive(&AppUser::new("alice").with_session_id("session-1"))
            .unwrap();
        assert_eq!(user.id().as_str(), "7d81aa0d926fec32f563bfd57d35ec82");
        let other = strategy
            .derive(&AppUser::new("alice").with_session_id("session-2"))
            .unwrap();
        assert_ne!(user, other);
        assert_eq!(
            strategy.derive(&AppUser::new("alice")),
            Err(DeriveError::MissingSessionId)
        );
    }

    #[test]
    fn ephemeral_rejects_short_secrets() {
        let err = UserIdStrategy::ephemeral(b"short").unwrap_err();
        assert!(err.to_string().contains("5 bytes"), "{err}");
        assert!(!format!("{:?}", UserIdStrategy::ephemeral(&[7; 32]).unwrap()).contains("7"));
    }

    #[test]
    fn raw_usernames_are_validated() {
        let err = UserIdStrategy::raw().derive(&AppUser::new("")).unwrap_err();
        assert_eq!(err, DeriveError::Invalid(IdError::Empty { kind: "userID" }));
        let err = UserIdStrategy::raw()
            .derive(&AppUser::new("ü".repeat(129)))
            .unwrap_err();
        assert_eq!(
            err,
            DeriveError::Invalid(IdError::TooLong {
                kind: "userID",
                len: 258,
                max: 256
            })
        );
    }

    #[test]
    fn object_form_limits_are_characters() {
        let name = "ü".repeat(128); // 256 bytes, 128 characters: fits both limits
        let user = UserIdStrategy::raw()
            .object_form(true)
            .derive(&AppUser::new(name.as_str()))
            .unwrap();
        assert_eq!(user.user_name(), Some(name.as_str()));
        let long = "a".repeat(129);
        let err = UserIdStrategy::sha1("x")
            .unwrap()
            .object_form(true)
            .derive(&AppUser::new(long))
            .unwrap_err();
        assert_eq!(
            err,
            DeriveError::Invalid(IdError::TooManyChars {
                kind: "userName",
                len: 129,
                max: 128
            })
        );
    }

    #[test]
    fn custom_closures_work() {
        let strategy = UserIdStrategy::custom(|i: &AppUser| UserId::new(format!("u-{}", i.username())));
        assert_eq!(strategy.derive(&AppUser::new("z")).unwrap().id().as_str(), "u-z");
    }

    /// (`bob@evil`, `example.com`) and (`bob`, `evil@example.com`) would both hash
    /// `bob@evil@example.com`, so a domain with '@' is refused, at start-up and per
    /// identity.
    #[test]
    fn a_domain_with_an_at_sign_is_refused() {
        for (domain, reason) in [
            ("evil@example.com", "contains '@' at byte 4"),
            ("", "it is empty"),
            ("example.com\n", "control character U+000A at byte 11"),
        ] {
            let err = UserIdStrategy::sha1(domain).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(reason), "{message}");
            assert!(
                message.contains(&format!("{domain:?}")),
                "the value is in the message: {message}"
            );
        }
        let strategy = UserIdStrategy::sha1("example.com").unwrap();
        let err = strategy
            .derive(&AppUser::new("bob").with_domain("evil@example.com"))
            .unwrap_err();
        let DeriveError::Invalid(IdError::InvalidDomain { domain, reason }) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(domain, "evil@example.com");
        assert!(reason.contains("'@' at byte 4"), "{reason}");
        assert!(err.to_string().contains("ambiguous"), "{err}");
        // The username may contain '@': the domain is what follows the last '@'.
        // printf 'bob@evil@example.com' | sha1sum
        let user = strategy.derive(&AppUser::new("bob@evil")).unwrap();
        assert_eq!(user.id().as_str(), "a0338c75069228dd33b8298baa5322382a2ca235");
    }
}
