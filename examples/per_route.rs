//! Per-route configuration in axum: `cargo run --example per_route`.
//!
//! ```text
//! curl -i -H 'authorization: Bearer alice' http://127.0.0.1:3003/rooms/standup
//! curl -i -H 'authorization: Bearer alice' 'http://127.0.0.1:3003/calls?c=weekly'
//! curl -i -H 'authorization: Bearer alice' http://127.0.0.1:3003/api/t/acme/rooms/x
//! curl -i -H 'authorization: Bearer alice' http://127.0.0.1:3003/about       # no layer, no token
//! ```
//!
//! - `route_layer` applies a layer to the routes added before it, after routing, so
//!   `ConferenceIdSource::route_param` can read the matched route.
//! - Different routes get different settings from one base configuration: the room
//!   pages take the conferenceID from the path and use raw usernames; the call pages
//!   take it from a query parameter, hash the userID, and answer 401 to anonymous users.
//! - A nested router keeps working: `route_param` sees the full matched path.
//! - The identity comes from a closure over the request head (DEMO ONLY: a bearer
//!   "token" that is just the username; your app checks a real credential).

use axum::{Router, routing::get};
use tower_callstats::{
    Callstats, CallstatsContext, ConferenceIdSource, Identity, SigningKey, TokenIssuer, UserIdStrategy,
};

async fn page(context: Option<CallstatsContext>) -> String {
    match context {
        Some(cs) => format!("{}\n", cs.to_client_json()),
        None => "anonymous: no token here\n".into(),
    }
}

/// DEMO ONLY: trusts `Authorization: Bearer <username>`.
fn identity(parts: &http::request::Parts) -> Option<Identity> {
    let value = parts.headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(Identity::new)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = TokenIssuer::builder("demo-app", SigningKey::generate("dev-key")?).build()?;
    // What every route shares; each route clones it and changes what differs.
    let base = Callstats::new(issuer).identity(identity);

    let rooms = Router::new().route("/rooms/{room}", get(page)).route_layer(
        base.clone()
            .conference_id(ConferenceIdSource::route_param("room"))
            .layer(),
    );
    let calls = Router::new().route("/calls", get(page)).route_layer(
        base.clone()
            .user_id(UserIdStrategy::sha1("example.com"))
            .conference_id(ConferenceIdSource::query("c"))
            .layer()
            .require_authentication(true),
    );
    let tenants = Router::new().route("/t/{tenant}/rooms/{room}", get(page)).route_layer(
        base.conference_id(ConferenceIdSource::sha1(ConferenceIdSource::route_param("room")))
            .layer(),
    );
    let app = Router::new()
        .merge(rooms)
        .merge(calls)
        .nest("/api", tenants)
        .route("/about", get(page));

    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3003".into());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("per-route example on http://{bind}");
    axum::serve(listener, app).await?;
    Ok(())
}
