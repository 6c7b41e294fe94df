//! # tower-callstats
//!
//! Hand every logged-in user of a WebRTC app a correctly formed, signed
//! [callstats.io](https://www.callstats.io) token (userID, conferenceID, ES256 JWT),
//! from a tower layer that sits in your existing axum or hyper stack.
//!
//! One [`Callstats`] configuration makes the three services an app mounts, so that
//! they cannot disagree: the page's middleware ([`Callstats::layer`]), the token
//! endpoint that callstats.js' `tokenGenerator` calls ([`Callstats::endpoint`]), and the
//! public keys ([`Callstats::jwks`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{Router, body::Body, routing::get};
//! use tower::ServiceExt;
//! use tower_callstats::{AppUser, Callstats, CallstatsContext, RoomSource, SigningKey, TokenIssuer, UserIdStrategy};
//!
//! // At start-up: the key from callstats' dashboard (here a fresh one), parsed once.
//! let key = SigningKey::generate("my-key-id").unwrap(); // or SigningKey::from_pem_file("my-key-id", "key.pem")
//! let issuer = TokenIssuer::builder("my-app-id", key).build().unwrap();
//! let callstats = Callstats::new(issuer)
//!     .user_id(UserIdStrategy::sha1("example.com").unwrap())
//!     .room(RoomSource::path("/rooms/{room}", "room").unwrap());
//!
//! let app = Router::new()
//!     .route("/rooms/{room}", get(|cs: CallstatsContext| async move {
//!         format!("callstats.initialize({:?}, tokenGenerator, {:?})", cs.app_id(), cs.user_id().as_str())
//!     }))
//!     .route_layer(callstats.layer())
//!     .route_service("/getToken", callstats.endpoint())
//!     .route_service("/.well-known/jwks.json", callstats.jwks());
//!
//! // Your session layer inserts the logged-in user:
//! let mut request = http::Request::get("/rooms/42").body(Body::empty()).unwrap();
//! request.extensions_mut().insert(AppUser::new("alice"));
//! let response = app.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert!(response.headers().contains_key("x-callstats-token"));
//! # }
//! ```
//!
//! # Rooms and calls
//!
//! A [`RoomSource`], set once with [`Callstats::room`], says which room a request is
//! for: on the page, the request itself; on the token endpoint, the page that asks (its
//! `Referer`). Without [`Callstats::calls`] the room is the conferenceID. With it, each
//! room has one conferenceID per call ([`calls`]): the same for everyone in the room
//! until the call ends.
//!
//! # The steps of a request
//!
//! The layer and the endpoint decide every request the same way, in this order:
//! **user** ([`GetUser`]) -> **userID** ([`UserIdStrategy`]) -> **room**
//! ([`RoomSource`]) -> **authorize** ([`Authorize`]: the app's hook sees the user, the
//! userID and the room as the request named it) -> **call** ([`calls::Calls`]) ->
//! **token** (cached, or signed by the [`TokenIssuer`]). Nothing is touched before the
//! hook has said yes. A refusal is a [`Rejection`] (status, stable code, message),
//! answered as JSON or as the app shapes it ([`Callstats::rejection`]).
//!
//! The pieces:
//!
//! - [`UserId`] and [`ConferenceId`]: UTF-8, case-sensitive, 1 to 256 **bytes**,
//!   byte-exact, without control, bidirectional or invisible characters (the
//!   [rules](#identifier-rules)).
//! - [`SigningKey`] and [`KeyRing`]: P-256 keys from PEM (SEC1 or PKCS8), parsed once,
//!   rotated atomically.
//! - [`layer`], [`endpoint`], [`jwks`]: the services [`Callstats`] makes.
//! - [`calls`]: one conferenceID per call, in memory or in a registry of your own.
//! - [`audit`]: one event per token issued, reused or refused; [`clock`]: an
//!   injectable clock for tests.
//!
//! # Identifier rules
//!
//! The two identifiers, [`UserId`] and [`ConferenceId`]:
//! callstats.io treats both identifiers as opaque, case-sensitive UTF-8 strings of at
//! most 256 **bytes** ([callstats' identifier rules]): bytes, not characters, so 85
//! three-byte characters and one ASCII byte fill an identifier, and 86 three-byte
//! characters are two bytes too many. Empty values are refused here (callstats' dashboard
//! shows an empty identifier as an empty string, and a token for nobody is useless), and
//! so are characters that make an identifier look like something it is not. The rules,
//! exactly:
//!
//! - **Control characters** (Unicode category Cc: U+0000 to U+001F and U+007F to U+009F,
//!   so CR, LF, NUL, DEL and the C1 controls) are refused: callstats' dashboard cannot
//!   show them, and in an identifier they are almost always an injection attempt.
//! - **Every `Bidi_Control` code point** of Unicode's [PropList.txt] is refused: U+061C
//!   ARABIC LETTER MARK, U+200E LEFT-TO-RIGHT MARK, U+200F RIGHT-TO-LEFT MARK, the
//!   embeddings and overrides U+202A to U+202E and the isolates U+2066 to U+2069. They
//!   reorder how the text around them is displayed, invisibly: `room\u{202E}1-nimda` is
//!   displayed as `roomadmin-1` (the "Trojan Source" trick), and `admin\u{200E}` as
//!   `admin`.
//! - **Invisible format characters that have no use in a name** are refused: U+200B ZERO
//!   WIDTH SPACE, U+2060 WORD JOINER, U+2061 FUNCTION APPLICATION, U+2062 INVISIBLE TIMES,
//!   U+2063 INVISIBLE SEPARATOR, U+2064 INVISIBLE PLUS, U+00AD SOFT HYPHEN, U+180E
//!   MONGOLIAN VOWEL SEPARATOR, U+FEFF ZERO WIDTH NO-BREAK SPACE (the byte order mark),
//!   and the Hangul fillers U+3164 HANGUL FILLER, U+115F HANGUL CHOSEONG FILLER, U+1160
//!   HANGUL JUNGSEONG FILLER and U+FFA0 HALFWIDTH HANGUL FILLER, which display as nothing
//!   or as blank space. With them two identifiers that look the same differ:
//!   `admin\u{200B}` is not `admin`.
//! - **The line and paragraph separators** U+2028 and U+2029 (the only characters of the
//!   categories Zl and Zp) are refused: they break lines in logs and end statements in
//!   older JavaScript.
//! - **The Tags block** U+E0000 to U+E007F is refused except inside an emoji tag
//!   sequence: its characters are invisible, so two identifiers that look the same would
//!   differ, and text could be hidden in an identifier. That is U+E0001 LANGUAGE TAG
//!   (deprecated), the tag characters U+E0020 to U+E007F, and, refused the same way, the
//!   block's unassigned code points U+E0000 and U+E0002 to U+E001F. An emoji tag sequence
//!   ([UTS #51], ED-14a) is a tag base, one or more *tag_spec* characters U+E0020 to
//!   U+E007E, then the *tag_end* U+E007F CANCEL TAG. Accepted are exactly the emoji tag
//!   sequences of Unicode's recommended set (RGI, `emoji-sequences.txt`): the
//!   subdivision flags of England (U+1F3F4 WAVING BLACK FLAG, the tags `gbeng`, U+E007F),
//!   Scotland (`gbsct`) and Wales (`gbwls`). Any other tag run after U+1F3F4 is valid
//!   for UTS #51 but shows as a plain black flag with up to 250 bytes of invisible text
//!   behind it, so it is refused too. Every other use of the block is refused, reported
//!   at the byte offset of the first tag character that is not part of such a
//!   sequence: a tag character that does not directly follow U+1F3F4 (or a tag_spec
//!   character), so also one after the U+E007F that closes a flag; a run of tag_spec
//!   characters that does not spell one of the three flags and end with U+E007F,
//!   whatever stops it (reported at the run's first character); a lone U+E007F; a
//!   U+E007F right after U+1F3F4 with no tag_spec in between; U+E0001 or an unassigned
//!   code point of the block anywhere.
//!   Other tag bases that UTS #51 allows (U+1F3F3, or U+1F3F4 followed by U+FE0F) are
//!   refused too: no RGI sequence uses them.
//!
//! Kept, because real names need them: the zero-width non-joiner and joiner U+200C and
//! U+200D (Persian `می‌خواهم`, Indic scripts `क्‍ष`, emoji ZWJ sequences 👩‍👩‍👧), the
//! variation selectors U+FE00 to U+FE0F and U+E0100 to U+E01EF (emoji presentation with
//! U+FE0F, ideographic variants such as U+845B U+E0100) and the emoji tag sequences
//! above. Every other code point is accepted, unassigned ones included (U+2065, U+E0080
//! to U+E00FF): the rules name characters rather than track which code points Unicode
//! has assigned, the Tags block being the one exception.
//!
//! ```
//! use tower_callstats::{ConferenceId, IdError};
//!
//! // `/rooms/admin%E2%80%8E`: a room displayed as `admin` that is not `admin`.
//! let err = ConferenceId::from_percent_encoded("admin%E2%80%8E").unwrap_err();
//! assert_eq!(err, IdError::InvisibleCharacter { kind: "conferenceID", code: 0x200E, at: 5 });
//! // The flag of Scotland: U+1F3F4, the tags g b s c t, U+E007F CANCEL TAG.
//! assert!(ConferenceId::new("\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}").is_ok());
//! // The same tags without the flag: refused at the first one.
//! let err = ConferenceId::new("x\u{E0067}\u{E0062}\u{E007F}").unwrap_err();
//! assert_eq!(err, IdError::InvisibleCharacter { kind: "conferenceID", code: 0xE0067, at: 1 });
//! ```
//!
//! [callstats' identifier rules]: https://docs.callstats.io/docs/identifiers-userids-conferenceids
//! [PropList.txt]: https://www.unicode.org/Public/UCD/latest/ucd/PropList.txt
//! [UTS #51]: https://www.unicode.org/reports/tr51/#def_emoji_tag_sequence
//!
//! ```
//! use tower_callstats::{ConferenceId, IdError, UserId};
//!
//! let user = UserId::new("インターネット").unwrap();
//! assert_eq!(user.as_str(), "インターネット");
//! assert_eq!(user.len(), 21); // bytes
//!
//! // 86 three-byte characters are 258 bytes: two bytes over the limit.
//! let err = ConferenceId::new("ອ".repeat(86)).unwrap_err();
//! assert_eq!(err, IdError::TooLong { kind: "conferenceID", len: 258, max: 256 });
//! assert_eq!(err.to_string(), "conferenceID is 258 bytes long, 2 bytes over the limit of 256 bytes");
//! ```
//!
//! ## In HTTP headers
//!
//! Header values are not UTF-8, so the layer percent-encodes identifiers it puts in
//! headers, exactly like JavaScript's `encodeURIComponent`; a page reads them back with
//! `decodeURIComponent`. [`percent_encode`] and [`percent_decode`] are the Rust side
//! of that contract:
//!
//! ```
//! use tower_callstats::{percent_decode, percent_encode};
//!
//! let encoded = percent_encode("интернэт room");
//! assert_eq!(encoded, "%D0%B8%D0%BD%D1%82%D0%B5%D1%80%D0%BD%D1%8D%D1%82%20room");
//! assert_eq!(percent_decode(&encoded, "conferenceID").unwrap(), "интернэт room");
//! ```
#![deny(missing_docs)]
#![deny(unreachable_pub)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod audit;
mod authorize;
mod cache;
pub mod calls;
mod callstats;
pub mod clock;
mod context;
mod encoding;
pub mod endpoint;
mod error;
mod id;
pub mod jwks;
mod keys;
pub mod layer;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod outage;
mod pipeline;
mod rejection;
mod response;
mod room;
#[cfg(feature = "tower-sessions")]
mod session;
mod token;
mod user;
mod user_id;

pub use authorize::{AllowAll, AsyncAuthorize, Authorize};
pub use callstats::Callstats;
pub use context::CallstatsContext;
pub use error::ConfigError;
pub use id::{ConferenceId, IdError, MAX_ID_BYTES, UserId, percent_decode, percent_encode};
pub use keys::{KeyError, KeyRing, SignError, SigningKey};
pub use rejection::Rejection;
pub use room::{Page, RoomSource};
#[cfg(feature = "tower-sessions")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower-sessions")))]
pub use session::FromSession;
pub use token::{Claims, IssuedToken, TokenIssuer, TokenIssuerBuilder};
pub use user::{AppUser, FromExtensions, GetUser};
pub use user_id::{CallstatsUser, DeriveError, UserIdStrategy};

#[cfg(test)]
mod send_sync {
    use super::*;

    fn assert_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<Callstats>();
        assert_send_sync::<layer::CallstatsLayer<FromExtensions, AllowAll>>();
        assert_send_sync::<layer::CallstatsService<tower_layer::Identity, FromExtensions, AllowAll>>();
        assert_send_sync::<endpoint::TokenEndpoint<FromExtensions, AllowAll>>();
        assert_send_sync::<TokenIssuer>();
        assert_send_sync::<jwks::JwksService>();
        assert_send_sync::<KeyRing>();
        assert_send_sync::<SigningKey>();
        assert_send_sync::<CallstatsContext>();
        assert_send_sync::<ConfigError>();
        assert_send_sync::<Rejection>();
    }
}

/// The README's Rust examples compile as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
