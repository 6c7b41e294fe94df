//! An HTTP/1.1 client of the demo whose connections come from a simulated client's
//! address, with a one-cookie jar (the session).

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;

use super::{COOKIE, ClientMode, Demo, client_mode};

/// An answer of the demo.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The whole `Set-Cookie` line that sets the cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    /// `name=value` of the session cookie this answer sets.
    pub fn session(&self) -> Option<String> {
        let line = self.set_cookie(COOKIE)?;
        Some(line.split(';').next().unwrap().to_owned())
    }
}

/// An HTTP/1.1 connection to the demo from one client address, with a cookie jar of one
/// cookie (the session).
pub struct Client {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    demo: SocketAddr,
    source: Option<IpAddr>,
    /// `name=value` of the session cookie, sent with every request.
    pub cookie: Option<String>,
}

impl Client {
    pub(super) async fn open(demo: SocketAddr, source: Option<IpAddr>) -> std::io::Result<Client> {
        let socket = TcpSocket::new_v4()?;
        if let (Some(ip), ClientMode::SourceAddress) = (source, client_mode()) {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = socket.connect(demo).await?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        Ok(Client {
            sender,
            host: demo.to_string(),
            demo,
            source,
            cookie: None,
        })
    }

    pub async fn connect(demo: &Demo, source: Option<IpAddr>) -> Client {
        Self::open(demo.addr, source)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the demo from {source:?}: {e}"))
    }

    /// A request with `Host`, the session cookie and (with [`ClientMode::ForwardedFor`])
    /// the client's address.
    pub fn request(&self, method: Method, path: &str) -> http::request::Builder {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.host);
        if let Some(cookie) = &self.cookie {
            builder = builder.header(header::COOKIE, cookie);
        }
        if let (Some(ip), ClientMode::ForwardedFor) = (self.source, client_mode()) {
            builder = builder.header("x-forwarded-for", ip.to_string());
        }
        builder
    }

    pub(super) async fn try_send(&mut self, request: http::request::Builder) -> Result<Response, hyper::Error> {
        self.send_body(request, Bytes::new()).await
    }

    async fn send_body(&mut self, request: http::request::Builder, body: Bytes) -> Result<Response, hyper::Error> {
        let request = request.body(Full::new(body)).unwrap();
        if self.sender.ready().await.is_err() {
            // The demo closed the kept-alive connection: open another from the same address.
            self.reconnect().await;
        }
        let response = self.sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    /// Sends `request` with `body`; keeps a session cookie the answer sets.
    pub async fn send(&mut self, request: http::request::Builder, body: impl Into<Bytes>) -> Response {
        let response = self.send_body(request, body.into()).await.expect("an answer");
        if let Some(cookie) = response.session() {
            self.cookie = Some(cookie).filter(|c| c != &format!("{COOKIE}="));
        }
        response
    }

    /// A new connection from the same address, keeping the cookie (the demo closes a
    /// connection that stays idle longer than its header timeout).
    pub async fn reconnect(&mut self) {
        let cookie = self.cookie.take();
        *self = Self::open(self.demo, self.source).await.expect("a new connection");
        self.cookie = cookie;
    }

    pub async fn get(&mut self, path: &str) -> Response {
        let request = self.request(Method::GET, path);
        self.send(request, Bytes::new()).await
    }

    /// `POST /login` of `username` as JSON, as curl or a script sends it.
    pub async fn login(&mut self, username: &str) -> Response {
        let body = serde_json::json!({ "username": username }).to_string();
        let request = self
            .request(Method::POST, "/login")
            .header(header::CONTENT_TYPE, "application/json");
        self.send(request, body).await
    }

    /// `POST /getToken` from the page `page` (its `Referer`), with a JSON `body`.
    pub async fn token(&mut self, page: &str, body: serde_json::Value) -> Response {
        let request = self
            .request(Method::POST, "/getToken")
            .header(header::REFERER, format!("http://{}{page}", self.host))
            .header(header::CONTENT_TYPE, "application/json");
        self.send(request, body.to_string()).await
    }

    /// `POST path` with a form `body` and `extra` headers (a browser's `Origin` and
    /// `Sec-Fetch-Site`, say).
    pub async fn form(&mut self, path: &str, body: &str, extra: &[(&str, &str)]) -> Response {
        let mut request = self
            .request(Method::POST, path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        self.send(request, body.to_owned()).await
    }

    /// The demo's origin, as a browser names it in `Origin`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.host)
    }

    /// `POST path` with no body and no browser headers (as curl sends it).
    pub async fn post(&mut self, path: &str) -> Response {
        let request = self.request(Method::POST, path);
        self.send(request, Bytes::new()).await
    }
}

/// The conferenceID of a room page's answer (its `x-callstats-conference-id` header,
/// percent-decoded by the rules of RFC 3986).
pub fn page_conference(response: &Response) -> String {
    assert_eq!(response.status, 200, "{}", response.text());
    let raw = response
        .header("x-callstats-conference-id")
        .expect("a conferenceID header");
    percent_decode(raw)
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&raw[i + 1..i + 3], 16).expect("a percent escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8")
}
