//! Who is in which call: the room page, the token endpoint, and ending a call.
//!
//! In `per-call` mode, the room page and `/getToken` record in the user's session the
//! conferenceID they handed out for the room (the last 16 rooms). `POST /rooms/{room}/end`
//! ends exactly that call (`Calls::end_call`, which ends it only while it is still the
//! room's active call), and refuses (`403 not_in_call`) a user whose session holds no call
//! of that room: a user may end a call they were given, nobody else's.

use axum::{
    body::Body,
    extract::{OriginalUri, Path, Request, State, rejection::PathRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_callstats::{CallstatsContext, ConferenceId, RoomSource};
use tower_sessions::Session;

use crate::{
    pages::{self, json_error},
    sessions::{self, USER_KEY},
    state::AppState,
    user::DemoUser,
};

/// New calls one user may start per minute (`MemoryRegistry::max_new_calls_per_user`):
/// past it, a join that would start a call gets the room name itself as its
/// conferenceID (the registry's fallback), so one user looping over new rooms can
/// neither fill the registry nor end anybody's call. Joining a call that is going on is
/// never counted.
pub const NEW_CALLS_PER_USER: u32 = 60;

/// The session key of the calls the user was given: `[[room, conferenceID], ...]`,
/// oldest first.
const CALLS_KEY: &str = "calls";
/// Rooms remembered per session at most.
const MAX_REMEMBERED: usize = 16;

type Remembered = Vec<(String, String)>;

/// Records that the session's user was given `call` for `room`.
async fn remember(session: &Session, room: &str, call: &str) {
    let mut calls: Remembered = sessions::read(session, CALLS_KEY).await.unwrap_or_default();
    if calls.iter().any(|(r, c)| r == room && c == call) {
        return;
    }
    calls.retain(|(r, _)| r != room);
    calls.push((room.to_owned(), call.to_owned()));
    if calls.len() > MAX_REMEMBERED {
        calls.remove(0);
    }
    if let Err(error) = sessions::write(session, CALLS_KEY, calls).await {
        tracing::warn!(%error, "could not record the call in the session");
    }
}

/// The call of `room` the session's user was given.
async fn recorded(session: &Session, room: &str) -> Option<String> {
    let calls: Remembered = sessions::read(session, CALLS_KEY).await?;
    calls.into_iter().find(|(r, _)| r == room).map(|(_, call)| call)
}

/// Forgets the call of `room` (it ended).
async fn forget(session: &Session, room: &str) {
    let mut calls: Remembered = sessions::read(session, CALLS_KEY).await.unwrap_or_default();
    calls.retain(|(r, _)| r != room);
    if let Err(error) = sessions::write(session, CALLS_KEY, calls).await {
        tracing::warn!(%error, "could not update the calls in the session");
    }
}

/// `GET /rooms/{room}`: the room page (the inspector); the login page with `401` for an
/// anonymous visitor.
pub async fn room_page(
    State(app): State<AppState>,
    context: Option<CallstatsContext>,
    session: Session,
    room: Result<Path<String>, PathRejection>,
) -> Response {
    let Some(context) = context else {
        return pages::index(StatusCode::UNAUTHORIZED, None, Some("Log in first."));
    };
    // The room name as the browser sent it, decoded; the layer has checked it already.
    let room = room.map(|Path(room)| room).unwrap_or_default();
    if let (Some(_), Some(call)) = (&app.calls, context.conference_id()) {
        remember(&session, &room, call.as_str()).await;
    }
    pages::room(&context, &app.page, &room)
}

/// The room of the page that asks for a token: its `Referer`, read with the room source
/// the endpoint reads it with.
fn room_of_page(rooms: &RoomSource, headers: &HeaderMap) -> Option<String> {
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    let (parts, ()) = http::Request::get(referer).body(()).ok()?.into_parts();
    Some(rooms.extract(&parts).ok()?.as_str().to_owned())
}

/// `POST /getToken`: tower-callstats' token endpoint; in `per-call` mode, the
/// conferenceID it handed out is recorded in the session for the page's room.
pub async fn get_token(State(app): State<AppState>, request: Request) -> Response {
    let session = request.extensions().get::<Session>().cloned();
    let room = app
        .calls
        .as_ref()
        .and_then(|_| room_of_page(&app.rooms, request.headers()));
    let Ok(response) = app.endpoint.clone().oneshot(request).await;
    let (Some(session), Some(room), StatusCode::OK) = (session, room, response.status()) else {
        return response.map(Body::new);
    };
    let (parts, body) = response.into_parts();
    let Ok(bytes) = body.collect().await.map(|b| b.to_bytes());
    let answer: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
    if let Some(call) = answer.as_ref().and_then(|a| a["conferenceID"].as_str()) {
        remember(&session, &room, call).await;
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// `POST /rooms/{room}/end` (the room page's form, or curl): ends the call of the room
/// that the user was given, so that the next join starts a new call with a new
/// conferenceID; then back to the room page, which joins that new call.
pub async fn end_call(
    State(app): State<AppState>,
    session: Session,
    Path(room): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let Some(user) = sessions::read::<DemoUser>(&session, USER_KEY).await else {
        return json_error(StatusCode::UNAUTHORIZED, "not_logged_in", "log in to end a call");
    };
    let Some(calls) = &app.calls else {
        let message =
            "the demo runs with CALLSTATS_CONFERENCE=room: the conferenceID is the room name, there is no call to end";
        return json_error(StatusCode::CONFLICT, "no_calls", message);
    };
    let Some(call) = recorded(&session, &room).await.and_then(|c| ConferenceId::new(c).ok()) else {
        let message = "you are in no call of this room: only a participant, whose room page or /getToken \
                       got the call's conferenceID, may end it";
        return json_error(StatusCode::FORBIDDEN, "not_in_call", message);
    };
    match calls.end_call(&room, &call).await {
        Ok(true) => tracing::info!(
            room,
            call = call.as_str(),
            username = user.username,
            "call ended: the next join starts a new call"
        ),
        Ok(false) => tracing::info!(room, call = call.as_str(), "the call had ended already"),
        Err(error) => {
            tracing::error!(%error, "could not end the call");
            return json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "call_registry_unavailable",
                &error.to_string(),
            );
        }
    }
    forget(&session, &room).await;
    // Back to the room page, as the browser spelled it (still percent-encoded).
    let page = uri.path().strip_suffix("/end").unwrap_or("/").to_owned();
    Redirect::to(&page).into_response()
}
