//! Per-route configuration in axum: `cargo run --example per_route`.
//!
//! ```text
//! curl -i -H 'authorization: Bearer alice' http://127.0.0.1:3003/rooms/standup
//! curl -i -H 'authorization: Bearer alice' 'http://127.0.0.1:3003/calls?c=weekly'
//! curl -i -H 'authorization: Bearer alice' http://127.0.0.1:3003/api/t/acme/rooms/x
//! curl -i -H 'authorization: Bearer alice' http://127.0.0.1:3003/about       # no layer, no token
//! ```
//!
//! - `route_layer` applies a layer to the routes added before it, and only to requests
//!   that matched one of them.
//! - Different routes get different settings from one base configuration: the room
//!   pages take the room from the path (`RoomSource::path`, the route's template) and
//!   use raw usernames; the call pages take it from a query parameter, hash the userID,
//!   and answer 401 to anonymous users.
//! - A nested router keeps working: the template is the full path from the root, the
//!   nesting prefix included, matched against the path the client sent (axum's
//!   `OriginalUri`).
//! - The user comes from a closure over the request head given to `Callstats::user`
//!   (DEMO ONLY: a bearer "token" that is just the username; your app checks a real
//!   credential).

use axum::{Router, routing::get};
use tower_callstats::{AppUser, Callstats, CallstatsContext, RoomSource, SigningKey, TokenIssuer, UserIdStrategy};

async fn page(context: Option<CallstatsContext>) -> String {
    match context {
        Some(cs) => format!("{}\n", cs.to_client_json()),
        None => "anonymous: no token here\n".into(),
    }
}

/// DEMO ONLY: trusts `Authorization: Bearer <username>`, which any client can send. In
/// production, read a user from a header only if a proxy in front of the app sets it
/// after authenticating the user and strips it from every client request (or verify a
/// real bearer token here).
fn user(parts: &http::request::Parts) -> Option<AppUser> {
    let value = parts.headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(AppUser::new)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = TokenIssuer::builder("demo-app", SigningKey::generate("dev-key")?).build()?;
    // What every route shares; each route clones it and changes what differs.
    let base = Callstats::new(issuer).user(user);

    let rooms = Router::new()
        .route("/rooms/{room}", get(page))
        .route_layer(base.clone().room(RoomSource::path("/rooms/{room}", "room")?).layer());
    let calls = Router::new().route("/calls", get(page)).route_layer(
        base.clone()
            .user_id(UserIdStrategy::sha1("example.com")?)
            .room(RoomSource::query("c"))
            .layer()
            .require_authentication(true),
    );
    // Nested under /api below: the template names the whole path.
    let tenants = Router::new().route("/t/{tenant}/rooms/{room}", get(page)).route_layer(
        base.room(RoomSource::sha1(RoomSource::path(
            "/api/t/{tenant}/rooms/{room}",
            "room",
        )?))
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
