//! `SmtpMailer` against a real SMTP server: a small SMTP responder that
//! each test starts on 127.0.0.1 (port 0), which records what it receives
//! (greeting, authentication, envelope and message), so the tests check
//! the message actually delivered, and the kind of every failure (4xx
//! transient, 5xx permanent, a missing credential a configuration error).
//!
//! The tests run on a multi-threaded tokio runtime; the server is a plain
//! thread, joined on the blocking pool.
//!
//! The mailer's policy refuses loopback unless the host allows it: every
//! test that connects allows 127.0.0.1 explicitly ([`loopback`]); the tests
//! that check refusals use the default policy or an injected resolver, and
//! never let a connection leave this machine.
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg(feature = "smtp")]

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use org_accounts::{
    CredentialRef, DefaultMailPolicy, Email, InvitationEmail, MailError, MailErrorKind, MailPolicy,
    MailSettings, Mailer, OrganizationId, SmtpMailer,
};

/// No test waits on the server longer than this.
const SERVER_DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// The SMTP responder
// ---------------------------------------------------------------------------

/// How the test server behaves.
#[derive(Clone, Copy)]
struct Behaviour {
    /// The mechanisms listed after `AUTH` in the EHLO reply (`None`: no
    /// AUTH extension).
    auth: Option<&'static str>,
    /// Accept AUTH (235) or refuse it (535).
    accept_auth: bool,
    /// The reply to every `RCPT` (without CRLF), refusing the recipient;
    /// `None`: accept it with 250.
    rcpt_reply: Option<&'static str>,
    /// Accept the connection but never say anything.
    silent: bool,
    /// On this verb, stop answering (a server that stalls mid-session).
    stall_on: Option<&'static str>,
    /// Send the greeting one byte per second, for ever (each read gets
    /// something, so only an overall deadline ends it).
    trickle: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            auth: Some("PLAIN LOGIN"),
            accept_auth: true,
            rcpt_reply: None,
            silent: false,
            stall_on: None,
            trickle: false,
        }
    }
}

/// Credentials an AUTH exchange carried.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Auth {
    mechanism: String,
    username: String,
    password: String,
}

/// Everything the server received in one session.
#[derive(Debug, Default)]
struct Session {
    /// Command verbs in order (`EHLO`, `AUTH`, `MAIL`, ...).
    verbs: Vec<String>,
    /// The name the client greeted with (`EHLO name`).
    greeting: Option<String>,
    auth: Option<Auth>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
    /// The message as received after DATA, dot-unstuffed, without the
    /// terminating `.` line.
    data: Option<String>,
}

struct Server {
    port: u16,
    handle: JoinHandle<io::Result<Option<Session>>>,
}

impl Server {
    fn start(behaviour: Behaviour) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = thread::spawn(move || serve_one(&listener, behaviour));
        Server { port, handle }
    }

    /// The session the server saw, or `None` if nobody connected within
    /// the deadline (joined on the blocking pool, so no runtime thread
    /// waits on it).
    async fn session(self) -> Option<Session> {
        let handle = self.handle;
        tokio::task::spawn_blocking(move || handle.join())
            .await
            .expect("join task")
            .expect("server thread")
            .expect("server I/O")
    }
}

/// Accepts one connection (waiting at most [`SERVER_DEADLINE`]) and plays
/// SMTP until QUIT, end of stream, or the read timeout.
fn serve_one(listener: &TcpListener, behaviour: Behaviour) -> io::Result<Option<Session>> {
    listener.set_nonblocking(true)?;
    let started = Instant::now();
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if started.elapsed() > SERVER_DEADLINE {
                    return Ok(None);
                }
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    };
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(SERVER_DEADLINE))?;
    stream.set_write_timeout(Some(SERVER_DEADLINE))?;
    let mut session = Session::default();
    if behaviour.trickle {
        // "220 " and then one byte a second until the client hangs up.
        let mut writer = &stream;
        writer.write_all(b"220 ")?;
        let started = Instant::now();
        while started.elapsed() < SERVER_DEADLINE {
            thread::sleep(Duration::from_secs(1));
            if writer
                .write_all(b"x")
                .and_then(|()| writer.flush())
                .is_err()
            {
                break;
            }
        }
        return Ok(Some(session));
    }
    if behaviour.silent {
        // Hold the connection open, saying nothing, until the client gives up.
        let mut reader = BufReader::new(&stream);
        let mut sink = String::new();
        let _ = reader.read_line(&mut sink);
        return Ok(Some(session));
    }
    match converse(&stream, behaviour, &mut session) {
        Ok(()) => {}
        // The client hanging up or going quiet ends the session.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut
            ) => {}
        Err(e) => return Err(e),
    }
    Ok(Some(session))
}

fn converse(stream: &TcpStream, behaviour: Behaviour, session: &mut Session) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut writer = stream;
    let mut reply = |text: &str| writer.write_all(text.as_bytes());
    reply("220 smtp.test ESMTP ready\r\n")?;
    loop {
        let line = read_line(&mut reader)?;
        let (verb, argument) = match line.split_once(' ') {
            Some((verb, argument)) => (verb.to_ascii_uppercase(), argument.to_owned()),
            None => (line.to_ascii_uppercase(), String::new()),
        };
        session.verbs.push(verb.clone());
        if behaviour.stall_on == Some(verb.as_str()) {
            // Say nothing more; wait for the client to give up.
            let _ = read_line(&mut reader);
            return Ok(());
        }
        match verb.as_str() {
            "EHLO" => {
                session.greeting = Some(argument.clone());
                let mut text = String::from("250-smtp.test greets you\r\n250-8BITMIME\r\n");
                if let Some(mechanisms) = behaviour.auth {
                    text.push_str(&format!("250-AUTH {mechanisms}\r\n"));
                }
                text.push_str("250 SIZE 1000000\r\n");
                reply(&text)?;
            }
            "HELO" => reply("250 smtp.test\r\n")?,
            "AUTH" => {
                let mut parts = argument.split_whitespace();
                let mechanism = parts.next().unwrap_or_default().to_ascii_uppercase();
                let initial = parts.next().map(str::to_owned);
                let auth = match mechanism.as_str() {
                    "PLAIN" => {
                        let response = match initial {
                            Some(response) => response,
                            None => {
                                reply("334 \r\n")?;
                                read_line(&mut reader)?
                            }
                        };
                        // authzid NUL authcid NUL passwd
                        let decoded = String::from_utf8(base64(&response)).unwrap();
                        let mut fields = decoded.split('\0');
                        let _authzid = fields.next();
                        Auth {
                            mechanism,
                            username: fields.next().unwrap_or_default().to_owned(),
                            password: fields.next().unwrap_or_default().to_owned(),
                        }
                    }
                    "LOGIN" => {
                        let username = match initial {
                            Some(username) => username,
                            None => {
                                reply("334 VXNlcm5hbWU6\r\n")?; // "Username:"
                                read_line(&mut reader)?
                            }
                        };
                        reply("334 UGFzc3dvcmQ6\r\n")?; // "Password:"
                        let password = read_line(&mut reader)?;
                        Auth {
                            mechanism,
                            username: String::from_utf8(base64(&username)).unwrap(),
                            password: String::from_utf8(base64(&password)).unwrap(),
                        }
                    }
                    _ => {
                        reply("504 5.5.4 Unrecognized authentication type\r\n")?;
                        continue;
                    }
                };
                session.auth = Some(auth);
                if behaviour.accept_auth {
                    reply("235 2.7.0 Authentication successful\r\n")?;
                } else {
                    reply("535 5.7.8 Authentication credentials invalid\r\n")?;
                }
            }
            "MAIL" => {
                session.mail_from = Some(path(&argument, "FROM:"));
                reply("250 2.1.0 Ok\r\n")?;
            }
            "RCPT" => {
                if let Some(refusal) = behaviour.rcpt_reply {
                    reply(&format!("{refusal}\r\n"))?;
                } else {
                    session.rcpt_to.push(path(&argument, "TO:"));
                    reply("250 2.1.5 Ok\r\n")?;
                }
            }
            "DATA" => {
                reply("354 End data with <CR><LF>.<CR><LF>\r\n")?;
                let mut data = String::new();
                loop {
                    let line = read_line(&mut reader)?;
                    if line == "." {
                        break;
                    }
                    // Undo dot-stuffing (RFC 5321 section 4.5.2).
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    data.push_str("\r\n");
                }
                session.data = Some(data);
                reply("250 2.0.0 Ok: queued as 1\r\n")?;
            }
            "RSET" | "NOOP" => reply("250 2.0.0 Ok\r\n")?,
            "QUIT" => {
                reply("221 2.0.0 Bye\r\n")?;
                return Ok(());
            }
            _ => reply("502 5.5.2 Command not recognized\r\n")?,
        }
    }
}

/// One CRLF-terminated line, without the CRLF.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    assert!(line.ends_with("\r\n"), "SMTP lines end with CRLF: {line:?}");
    line.truncate(line.len() - 2);
    Ok(line)
}

/// The address in `FROM:<a@b> PARAMS` / `TO:<a@b>`.
fn path(argument: &str, keyword: &str) -> String {
    let rest = argument[keyword.len()..].trim_start();
    assert!(
        argument[..keyword.len()].eq_ignore_ascii_case(keyword),
        "{argument:?}"
    );
    let end = rest.find('>').expect("a path in angle brackets");
    rest[1..end].to_owned()
}

// ---------------------------------------------------------------------------
// Reading the received message (RFC 5322 / MIME), decoding what lettre
// encoded
// ---------------------------------------------------------------------------

struct Received {
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn parse(data: &str) -> Received {
        let (head, body) = data
            .split_once("\r\n\r\n")
            .expect("headers, blank line, body");
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                // Folded header: continue the previous one.
                headers
                    .last_mut()
                    .expect("a header to continue")
                    .1
                    .push_str(line);
            } else {
                let (name, value) = line.split_once(':').expect("name: value");
                headers.push((name.to_owned(), value.trim_start().to_owned()));
            }
        }
        let received = Received {
            headers,
            body: String::new(),
        };
        let body = match received
            .header("Content-Transfer-Encoding")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("7bit" | "8bit") => body.to_owned(),
            Some("quoted-printable") => String::from_utf8(quoted_printable(body)).unwrap(),
            Some("base64") => String::from_utf8(base64(body)).unwrap(),
            Some(other) => panic!("unexpected transfer encoding {other}"),
        };
        Received {
            body: body.replace("\r\n", "\n"),
            ..received
        }
    }

    /// The raw value of the only header called `name`.
    fn header(&self, name: &str) -> Option<&str> {
        let mut values = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str());
        let value = values.next();
        assert!(values.next().is_none(), "one {name} header");
        value
    }

    /// The value of header `name`, with RFC 2047 encoded words decoded.
    fn decoded_header(&self, name: &str) -> String {
        decode_words(
            self.header(name)
                .unwrap_or_else(|| panic!("a {name} header")),
        )
    }
}

/// The display name and address of a one-mailbox header: `addr`,
/// `name <addr>`, `"quoted name" <addr>` or `=?utf-8?b?...?= <addr>`.
fn mailbox(value: &str) -> (Option<String>, String) {
    let Some((name, address)) = value.rsplit_once('<') else {
        return (None, value.trim().to_owned());
    };
    let address = address.strip_suffix('>').expect("<address>").to_owned();
    let name = name.trim();
    let name = if name.is_empty() {
        None
    } else if let Some(quoted) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        let mut unquoted = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            unquoted.push(if c == '\\' { chars.next().unwrap() } else { c });
        }
        Some(unquoted)
    } else {
        Some(decode_words(name))
    };
    (name, address)
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`);
/// whitespace between adjacent encoded words is dropped.
fn decode_words(value: &str) -> String {
    let mut out = Vec::new();
    let mut rest = value;
    let mut after_word = false;
    while !rest.is_empty() {
        let start = rest.find("=?");
        let word = start.and_then(|start| {
            let inner = &rest[start + 2..];
            let mut parts = inner.splitn(3, '?');
            let charset = parts.next()?;
            let encoding = parts.next()?;
            let text_and_rest = parts.next()?;
            let end = text_and_rest.find("?=")?;
            assert!(charset.eq_ignore_ascii_case("utf-8"), "{value:?}");
            let text = &text_and_rest[..end];
            let bytes = match encoding {
                "b" | "B" => base64(text),
                "q" | "Q" => quoted_printable(&text.replace('_', " ")),
                other => panic!("unknown encoding {other}"),
            };
            let consumed = start + 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
            Some((start, bytes, consumed))
        });
        match word {
            Some((start, bytes, consumed)) => {
                let between = &rest[..start];
                if !(after_word && between.trim().is_empty()) {
                    out.extend_from_slice(between.as_bytes());
                }
                out.extend(bytes);
                rest = &rest[consumed..];
                after_word = true;
            }
            None => {
                out.extend_from_slice(rest.as_bytes());
                rest = "";
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in text.bytes() {
        if byte == b'=' {
            break;
        }
        if byte.is_ascii_whitespace() {
            continue;
        }
        let value = ALPHABET
            .iter()
            .position(|&c| c == byte)
            .unwrap_or_else(|| panic!("not base64: {text:?}"));
        buffer = (buffer << 6) | u32::try_from(value).unwrap();
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).unwrap());
        }
    }
    out
}

fn quoted_printable(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if bytes[i + 1..].starts_with(b"\r\n") {
                i += 3; // soft line break
            } else {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

fn email(address: &str) -> Email {
    Email::parse(address).unwrap()
}

fn org(id: &str) -> OrganizationId {
    OrganizationId::new(id).unwrap()
}

/// The organization the mailer's vault holds a secret for.
fn acme() -> OrganizationId {
    org("acme")
}

/// Plain SMTP (no TLS) to the test server, with a short timeout.
fn settings(port: u16) -> MailSettings {
    MailSettings::new(
        "127.0.0.1",
        port,
        email("accounts@example.com"),
        "Example Corp, Accounts",
    )
    .with_tls(false)
    .with_timeout(Duration::from_secs(5))
}

fn invitation(settings: &MailSettings, organization: &str) -> InvitationEmail {
    InvitationEmail::for_invitation(
        settings,
        email("Bob.Jones@Example.com"),
        organization,
        &email("ada@example.com"),
    )
}

/// The host's explicit allowance for the test servers: 127.0.0.1 only,
/// where credentials may go without TLS (the test server speaks plain
/// SMTP). Every other private address stays refused.
fn loopback() -> DefaultMailPolicy {
    DefaultMailPolicy::new()
        .allowing(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .allowing_credentials_without_tls()
}

/// A mailer whose vault holds one secret: `smtp/example` = `s3cret pass`,
/// for organization `acme` only; allowed to reach the test servers.
fn mailer() -> SmtpMailer {
    vault_mailer().with_policy(loopback())
}

/// The same vault, under the default policy.
fn vault_mailer() -> SmtpMailer {
    let vault = HashMap::from([(
        ("acme".to_owned(), "smtp/example".to_owned()),
        "s3cret pass".to_owned(),
    )]);
    SmtpMailer::new(move |org, reference| {
        vault
            .get(&(org.as_str().to_owned(), reference.0.clone()))
            .cloned()
    })
}

/// A listener nobody serves: a connection attempt would wait in its
/// backlog, so [`assert_nobody_connected`] can tell.
fn idle_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn assert_nobody_connected(listener: &TcpListener) {
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == io::ErrorKind::WouldBlock),
        "nobody connects: {accepted:?}"
    );
}

/// The failure is `kind`, with the reply `code`, and says nothing secret
/// nor anything a terminal would act on.
fn assert_failure(error: &MailError, kind: MailErrorKind, code: Option<u16>) {
    assert_eq!(error.kind, kind, "{error:?}");
    assert_eq!(error.code, code, "{error:?}");
    assert_eq!(error.is_transient(), kind == MailErrorKind::Transient);
    let text = error.to_string();
    assert_eq!(text, error.summary);
    assert!(!text.is_empty());
    assert!(!text.chars().any(char::is_control), "{text:?}");
    assert!(text.chars().count() <= 200, "{text:?}");
    if let Some(code) = code {
        assert!(text.contains(&code.to_string()), "{text}");
    }
    assert!(!text.contains("s3cret"), "{text}");
    assert!(!format!("{error:?}").contains("s3cret"), "{error:?}");
}

/// The server received `invitation` for `organization`, sent as
/// `settings` say, through a correct envelope.
fn assert_delivered(
    session: &Session,
    settings: &MailSettings,
    invitation: &InvitationEmail,
    organization: &str,
) {
    assert_eq!(
        session.mail_from.as_deref(),
        Some(settings.sender_address.as_str())
    );
    assert_eq!(session.rcpt_to, ["Bob.Jones@Example.com"]);
    let received = Received::parse(session.data.as_deref().expect("a message"));
    assert_eq!(
        mailbox(received.header("From").expect("a From header")),
        (
            Some(settings.sender_name.clone()),
            settings.sender_address.as_str().to_owned()
        )
    );
    assert_eq!(
        mailbox(received.header("To").expect("a To header")),
        (None, "Bob.Jones@Example.com".to_owned())
    );
    assert_eq!(received.decoded_header("Subject"), invitation.subject);
    assert_eq!(
        received.header("Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    // lettre ends the message with an empty line before the final dot.
    assert_eq!(received.body.trim_end(), invitation.body.trim_end());
    assert!(
        received
            .body
            .contains(&format!("join the organization \"{organization}\".")),
        "{}",
        received.body
    );
}

// ---------------------------------------------------------------------------
// Tests: delivery
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn delivers_the_invitation_with_auth_plain() {
    let server = Server::start(Behaviour::default());
    let settings =
        settings(server.port).with_auth("mailer@example.com", CredentialRef("smtp/example".into()));
    let invitation = invitation(&settings, "Example Corp");

    mailer()
        .send(&acme(), &settings, &invitation)
        .await
        .expect("delivered");

    let session = server.session().await.expect("the mailer connected");
    assert_eq!(
        session.verbs,
        ["EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"]
    );
    assert_eq!(
        session.auth,
        Some(Auth {
            mechanism: "PLAIN".into(),
            username: "mailer@example.com".into(),
            password: "s3cret pass".into(),
        })
    );
    assert_delivered(&session, &settings, &invitation, "Example Corp");
    // Plain ASCII travels as is: the raw message names the organization.
    let raw = session.data.unwrap();
    assert!(
        raw.contains("Subject: You are invited to join Example Corp\r\n"),
        "{raw}"
    );
    assert!(
        raw.contains("ada@example.com invited you to join the organization \"Example Corp\"."),
        "{raw}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn encodes_a_non_ascii_organization_name() {
    let server = Server::start(Behaviour::default());
    let settings = settings(server.port);
    let organization = "Café Zürich — Ünïcode Ltd";
    let invitation = invitation(&settings, organization);

    mailer()
        .send(&acme(), &settings, &invitation)
        .await
        .expect("delivered");

    let session = server.session().await.expect("the mailer connected");
    // No authentication configured: none attempted.
    assert_eq!(session.verbs, ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]);
    assert_eq!(session.auth, None);
    let raw = session.data.as_deref().unwrap();
    assert!(raw.is_ascii(), "lettre encodes headers and body: {raw}");
    assert_delivered(&session, &settings, &invitation, organization);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mail_settings_domain_is_announced_in_the_greeting() {
    // Given settings with the organization's mail domain,
    let server = Server::start(Behaviour::default());
    let settings = settings(server.port).with_domain("mail.acme.example");
    let invitation = invitation(&settings, "Acme");
    // when an invitation is sent,
    mailer()
        .send(&acme(), &settings, &invitation)
        .await
        .expect("delivered");
    // then the server is greeted with that domain.
    let session = server.session().await.expect("the mailer connected");
    assert_eq!(session.greeting.as_deref(), Some("mail.acme.example"));
    assert_delivered(&session, &settings, &invitation, "Acme");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_domain_the_greeting_is_the_mailers_default() {
    let server = Server::start(Behaviour::default());
    let settings = settings(server.port);
    mailer()
        .send(&acme(), &settings, &invitation(&settings, "Acme"))
        .await
        .expect("delivered");
    let session = server.session().await.expect("the mailer connected");
    let greeting = session.greeting.expect("greeted");
    assert!(
        !greeting.is_empty() && !greeting.contains("acme"),
        "{greeting}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn authenticates_with_login_when_the_server_offers_only_login() {
    let server = Server::start(Behaviour {
        auth: Some("LOGIN"),
        ..Behaviour::default()
    });
    let settings = settings(server.port).with_auth("mailer", CredentialRef("smtp/example".into()));
    let invitation = invitation(&settings, "Example Corp");

    mailer()
        .send(&acme(), &settings, &invitation)
        .await
        .expect("delivered");

    let session = server.session().await.expect("the mailer connected");
    assert_eq!(
        session.auth,
        Some(Auth {
            mechanism: "LOGIN".into(),
            username: "mailer".into(),
            password: "s3cret pass".into(),
        })
    );
    assert_delivered(&session, &settings, &invitation, "Example Corp");
}

// ---------------------------------------------------------------------------
// Tests: credentials are resolved per organization
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn the_credential_resolver_is_given_the_organization() {
    let asked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mailer = {
        let asked = Arc::clone(&asked);
        SmtpMailer::new(move |org, reference| {
            asked
                .lock()
                .unwrap()
                .push((org.as_str().to_owned(), reference.0.clone()));
            (org.as_str() == "acme" && reference.0 == "smtp").then(|| "acme pass".to_owned())
        })
        .with_policy(loopback())
    };

    let server = Server::start(Behaviour::default());
    let settings = settings(server.port).with_auth("mailer", CredentialRef("smtp".into()));
    let invitation = invitation(&settings, "Acme");
    mailer
        .send(&acme(), &settings, &invitation)
        .await
        .expect("delivered");
    let auth = server.session().await.unwrap().auth.expect("authenticated");
    assert_eq!(auth.password, "acme pass");

    // Another organization naming the same reference gets nothing.
    let (listener, port) = idle_listener();
    let settings = self::settings(port).with_auth("mailer", CredentialRef("smtp".into()));
    let error = mailer
        .send(&org("other"), &settings, &invitation)
        .await
        .unwrap_err();
    assert_failure(&error, MailErrorKind::Configuration, None);
    assert_nobody_connected(&listener);

    assert_eq!(
        *asked.lock().unwrap(),
        [
            ("acme".to_owned(), "smtp".to_owned()),
            ("other".to_owned(), "smtp".to_owned())
        ]
    );
}

/// The variable [`from_env_scopes_each_secret_to_its_organization`] reads.
/// (`SmtpMailer::env_var_name("TEST_PREFIX_", "acme", "smtp")`: the id and
/// the reference in upper-case hex.)
const ACME_SECRET_VARIABLE: &str = "TEST_PREFIX_61636D65_736D7470";

#[tokio::test(flavor = "multi_thread")]
async fn from_env_scopes_each_secret_to_its_organization() {
    let Ok(secret) = std::env::var(ACME_SECRET_VARIABLE) else {
        // Setting a variable in this multi-threaded test binary would need
        // `unsafe` (`std::env::set_var`): run this one test again in a
        // child process whose environment has it.
        let output = tokio::task::spawn_blocking(|| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "from_env_scopes_each_secret_to_its_organization",
                    "--test-threads=1",
                    "--nocapture",
                ])
                .env(ACME_SECRET_VARIABLE, "acme env s3cret")
                // Unscoped, and another organization's: neither may be read.
                .env("61636D65_736D7470", "unscoped s3cret")
                .env_remove("TEST_PREFIX_6F74686572_736D7470")
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("test from_env_scopes_each_secret_to_its_organization ... ok"),
            "the child ran the test: {stdout}"
        );
        return;
    };

    // Organization `acme`, reference `smtp`: its scoped variable.
    assert_eq!(
        SmtpMailer::env_var_name("TEST_PREFIX_", &acme(), &CredentialRef("smtp".into())),
        ACME_SECRET_VARIABLE
    );
    let server = Server::start(Behaviour::default());
    let settings = settings(server.port).with_auth("mailer", CredentialRef("smtp".into()));
    let invitation = invitation(&settings, "Acme");
    SmtpMailer::from_env("TEST_PREFIX_")
        .with_policy(loopback())
        .send(&acme(), &settings, &invitation)
        .await
        .expect("delivered");
    let session = server.session().await.expect("the mailer connected");
    let auth = session.auth.clone().expect("authenticated");
    assert_eq!(auth.username, "mailer");
    assert_eq!(auth.password, secret);
    assert_delivered(&session, &settings, &invitation, "Acme");

    // Organization `other`, same reference: its own variable is unset, so
    // the delivery fails as configuration, without connecting.
    let (listener, port) = idle_listener();
    let settings = self::settings(port).with_auth("mailer", CredentialRef("smtp".into()));
    let error = SmtpMailer::from_env("TEST_PREFIX_")
        .with_policy(loopback())
        .send(&org("other"), &settings, &invitation)
        .await
        .unwrap_err();
    assert_failure(&error, MailErrorKind::Configuration, None);
    assert!(!error.to_string().contains(&secret), "{error}");

    // An empty prefix scopes nothing: it reads no variable, not even the
    // unprefixed one, which is set.
    let error = SmtpMailer::from_env("")
        .with_policy(loopback())
        .send(&acme(), &settings, &invitation)
        .await
        .unwrap_err();
    assert_failure(&error, MailErrorKind::Configuration, None);
    assert_nobody_connected(&listener);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_credential_is_a_configuration_error_without_connecting() {
    let (listener, port) = idle_listener();
    let settings = settings(port).with_auth("mailer", CredentialRef("smtp/unknown".into()));
    let invitation = invitation(&settings, "Example Corp");

    let error = mailer()
        .send(&acme(), &settings, &invitation)
        .await
        .unwrap_err();
    assert_failure(&error, MailErrorKind::Configuration, None);
    assert!(error.to_string().contains("credential"), "{error}");

    let error = SmtpMailer::from_env("ORG_ACCOUNTS_TEST_SURELY_UNSET_4F1C_")
        .with_policy(loopback())
        .send(
            &acme(),
            &settings
                .clone()
                .with_auth("mailer", CredentialRef("smtp".into())),
            &invitation,
        )
        .await
        .unwrap_err();
    assert_failure(&error, MailErrorKind::Configuration, None);

    // A connection attempt would be waiting in the listen backlog by now.
    assert_nobody_connected(&listener);
}

// ---------------------------------------------------------------------------
// Tests: failures keep their kind
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_recipient_is_permanent_with_its_code() {
    let server = Server::start(Behaviour {
        rcpt_reply: Some("550 5.1.1 No such user here"),
        ..Behaviour::default()
    });
    let settings = settings(server.port);
    let invitation = invitation(&settings, "Example Corp");

    let error = mailer()
        .send(&acme(), &settings, &invitation)
        .await
        .unwrap_err();
    assert_failure(&error, MailErrorKind::Permanent, Some(550));

    let session = server.session().await.expect("the mailer connected");
    assert_eq!(session.data, None, "no message after a refused recipient");
    assert!(
        !session.verbs.contains(&"DATA".to_owned()),
        "{:?}",
        session.verbs
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_4xx_reply_is_transient_with_its_code() {
    let server = Server::start(Behaviour {
        rcpt_reply: Some("450 4.2.1 Mailbox busy, try again later"),
        ..Behaviour::default()
    });
    let settings = settings(server.port);
    let invitation = invitation(&settings, "Example Corp");

    let error = mailer()
        .send(&acme(), &settings, &invitation)
        .await
        .unwrap_err();
    assert_failure(&error, MailErrorKind::Transient, Some(450));

    let session = server.session().await.expect("the mailer connected");
    assert_eq!(session.data, None, "no message after a deferred recipient");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_authentication_is_permanent_and_hides_the_secret() {
    let server = Server::start(Behaviour {
        accept_auth: false,
        ..Behaviour::default()
    });
    let settings = settings(server.port).with_auth("mailer", CredentialRef("smtp/example".into()));
    let invitation = invitation(&settings, "Example Corp");

    let error = mailer()
        .send(&acme(), &settings, &invitation)
        .await
        .unwrap_err();
    // `assert_failure` also checks that neither the text nor `Debug` holds
    // the password.
    assert_failure(&error, MailErrorKind::Permanent, Some(535));

    let session = server.session().await.expect("the mailer connected");
    assert_eq!(
        session.auth.map(|a| a.password).as_deref(),
        Some("s3cret pass")
    );
    assert_eq!(session.mail_from, None, "nothing sent after refused AUTH");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_reply_is_summarized_short_and_escaped() {
    // A long reply (within SMTP's 1000-byte line) that would clear the
    // screen and retitle the terminal of whoever prints it raw.
    let shouting = Box::leak(
        format!(
            "550 5.1.1 \x1b[2J\x1b]0;pwned\x07 refused {}",
            "x".repeat(500)
        )
        .into_boxed_str(),
    );
    let server = Server::start(Behaviour {
        rcpt_reply: Some(shouting),
        ..Behaviour::default()
    });
    let settings = settings(server.port);
    let invitation = invitation(&settings, "Example Corp");

    let error = mailer()
        .send(&acme(), &settings, &invitation)
        .await
        .unwrap_err();
    // No control character, at most 200 characters, the code kept.
    assert_failure(&error, MailErrorKind::Permanent, Some(550));
    assert!(!error.summary.contains('\x1b'), "{:?}", error.summary);
    assert!(error.summary.contains("refused"), "{:?}", error.summary);
    assert!(!format!("{error:?}").contains('\x1b'), "{error:?}");
    server.session().await.expect("the mailer connected");
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_on_a_server_without_starttls_sends_nothing() {
    // TLS on a port other than 465 means STARTTLS, which is required: a
    // server that does not offer it gets neither credentials nor mail.
    let server = Server::start(Behaviour::default());
    let settings = settings(server.port)
        .with_tls(true)
        .with_auth("mailer", CredentialRef("smtp/example".into()));
    let invitation = invitation(&settings, "Example Corp");

    let error = mailer()
        .send(&acme(), &settings, &invitation)
        .await
        .unwrap_err();
    assert_eq!(error.code, None, "{error:?}");
    assert!(!error.to_string().contains("s3cret"), "{error}");

    let session = server.session().await.expect("the mailer connected");
    assert_eq!(session.auth, None);
    assert_eq!(session.mail_from, None);
    assert!(
        session.verbs.iter().all(|v| v == "EHLO" || v == "QUIT"),
        "{:?}",
        session.verbs
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_server_is_transient() {
    // A port nobody listens on: bind one, then close it.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let timeout = Duration::from_secs(2);
    let settings = settings(port).with_timeout(timeout);
    let invitation = invitation(&settings, "Example Corp");

    let started = Instant::now();
    let error = mailer()
        .send(&acme(), &settings, &invitation)
        .await
        .unwrap_err();
    assert_failure(&error, MailErrorKind::Transient, None);
    assert!(started.elapsed() < timeout, "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_server_times_out_as_transient() {
    let server = Server::start(Behaviour {
        silent: true,
        ..Behaviour::default()
    });
    let timeout = Duration::from_millis(300);
    let settings = settings(server.port).with_timeout(timeout);
    let invitation = invitation(&settings, "Example Corp");

    let started = Instant::now();
    let error = mailer()
        .send(&acme(), &settings, &invitation)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_failure(&error, MailErrorKind::Transient, None);
    assert!(elapsed >= timeout, "gave up after {elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(5),
        "the timeout must bound waiting for the greeting; took {elapsed:?}"
    );
    assert!(server.session().await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_stalls_mid_session_times_out_as_transient() {
    let server = Server::start(Behaviour {
        stall_on: Some("MAIL"),
        ..Behaviour::default()
    });
    let timeout = Duration::from_millis(300);
    let settings = settings(server.port).with_timeout(timeout);
    let invitation = invitation(&settings, "Example Corp");

    let started = Instant::now();
    let error = mailer()
        .send(&acme(), &settings, &invitation)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_failure(&error, MailErrorKind::Transient, None);
    assert!(
        elapsed < Duration::from_secs(5),
        "the timeout must bound each exchange; took {elapsed:?}"
    );
    let session = server.session().await.expect("the mailer connected");
    assert_eq!(session.verbs, ["EHLO", "MAIL"]);
    assert_eq!(session.data, None);
}

// ---------------------------------------------------------------------------
// Tests: through the service
// ---------------------------------------------------------------------------

/// End to end: an administrator invites through the service; the command
/// stores the invitation and its queued email without connecting to the
/// mail server; delivery then reaches the SMTP server; a refused delivery
/// is recorded with its code and an escaped summary, and a later delivery
/// sends it exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn the_service_emails_an_invitation_through_smtp() {
    use org_accounts::{AccountService, Command, Context, InMemoryStore};

    let now: org_accounts::Timestamp = "2026-11-28T09:00:00Z".parse().unwrap();
    let admin = Context::new(email("ada@example.com"), now);
    let id = acme();
    let service = AccountService::new(InMemoryStore::new())
        .with_mail_policy(mailer())
        .with_mailer(mailer());
    service
        .execute(
            &id,
            &Command::CreateOrganization {
                name: "Acme Ltd".into(),
            },
            &admin,
        )
        .await
        .unwrap();
    // Plain SMTP to the test server, so no credentials (they go only over
    // TLS; the mailer tests above cover authentication).
    let with_auth = settings;

    // The command stores the invitation and queues its email; it does not
    // connect to the mail server.
    let (listener, port) = idle_listener();
    service
        .execute(
            &id,
            &Command::SetMailSettings {
                settings: with_auth(port),
            },
            &admin,
        )
        .await
        .unwrap();
    let invite = Command::InviteUsers {
        emails: vec![email("Bob.Jones@Example.com")],
        groups: vec![],
    };
    let done = service.execute(&id, &invite, &admin).await.unwrap();
    assert_eq!(done.queued.len(), 1);
    assert_nobody_connected(&listener);
    drop(listener);

    // First the server refuses the recipient (with a reply that would
    // clear a terminal): the invitation stands, the email stays queued,
    // the failure is recorded with its code, escaped.
    let refusing = Server::start(Behaviour {
        rcpt_reply: Some("550 5.1.1 \x1b[2J No such user here"),
        ..Behaviour::default()
    });
    service
        .execute(
            &id,
            &Command::SetMailSettings {
                settings: with_auth(refusing.port),
            },
            &admin,
        )
        .await
        .unwrap();
    let failed = service.deliver(&id, now, 100).await.unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].notification, done.queued[0]);
    assert_eq!(failed[0].to.as_str(), "Bob.Jones@Example.com");
    let error = failed[0].result.as_ref().unwrap_err();
    assert_failure(error, MailErrorKind::Permanent, Some(550));
    refusing.session().await.expect("the mailer connected");
    let queued: Vec<(u32, Option<String>, Option<MailErrorKind>)> = service
        .read(&id, |org| {
            org.queued_emails()
                .map(|(_, q, _)| {
                    (
                        q.attempts(),
                        q.last_error().map(str::to_owned),
                        q.last_failure(),
                    )
                })
                .collect()
        })
        .await
        .unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].0, 1);
    assert_eq!(
        queued[0].2,
        Some(MailErrorKind::Permanent),
        "the kind is kept"
    );
    let stored = queued[0].1.as_deref().expect("the failure is recorded");
    assert!(stored.contains("550"), "{stored:?}");
    assert!(stored.contains("No such user here"), "{stored:?}");
    assert!(!stored.chars().any(char::is_control), "{stored:?}");
    assert!(stored.chars().count() <= 250, "{stored:?}");
    assert!(!stored.contains("s3cret"), "{stored:?}");
    assert!(
        service
            .read(&id, |org| org
                .member(&email("bob.jones@example.com"))
                .is_some())
            .await
            .unwrap()
    );

    // Then a working server: the next delivery sends it, once.
    let server = Server::start(Behaviour::default());
    let settings = with_auth(server.port);
    service
        .execute(
            &id,
            &Command::SetMailSettings {
                settings: settings.clone(),
            },
            &admin,
        )
        .await
        .unwrap();
    // Changing the settings keeps the queue.
    let delivered = service.deliver(&id, now, 100).await.unwrap();
    assert_eq!(delivered.len(), 1);
    assert!(delivered[0].result.is_ok(), "{delivered:?}");
    let session = server.session().await.expect("the mailer connected");
    let expected = InvitationEmail::for_invitation(
        &settings,
        email("Bob.Jones@Example.com"),
        "Acme Ltd",
        &email("ada@example.com"),
    );
    assert_delivered(&session, &settings, &expected, "Acme Ltd");
    assert!(
        service.deliver(&id, now, 100).await.unwrap().is_empty(),
        "never sent twice"
    );
    assert_eq!(
        service
            .read(&id, |org| org.queued_emails().count())
            .await
            .unwrap(),
        0
    );
}

// ---------------------------------------------------------------------------
// Tests: the host's network and time (issue 15)
// ---------------------------------------------------------------------------

/// lettre's timeout bounds each read; a server that sends one byte every
/// second never trips it. The settings' timeout is the deadline of the
/// whole delivery.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_trickles_one_byte_a_second_is_cut_off_at_the_deadline() {
    let server = Server::start(Behaviour {
        trickle: true,
        ..Behaviour::default()
    });
    let timeout = Duration::from_millis(2500);
    let settings = settings(server.port).with_timeout(timeout);
    let invitation = invitation(&settings, "Example Corp");

    let started = Instant::now();
    let error = mailer()
        .send(&acme(), &settings, &invitation)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_failure(&error, MailErrorKind::Transient, None);
    assert!(elapsed >= timeout, "gave up after {elapsed:?}");
    assert!(
        elapsed < timeout + Duration::from_millis(1500),
        "cut off at the deadline, not later: {elapsed:?}"
    );
    assert!(error.to_string().contains("2500 ms"), "{error}");
    server.session().await.expect("the mailer connected");
}

/// Under the default policy (no allowance), a host on loopback or any other
/// internal address is refused as configuration, and nobody connects.
#[tokio::test(flavor = "multi_thread")]
async fn the_default_policy_refuses_internal_hosts_without_connecting() {
    let (listener, port) = idle_listener();
    let invitation = invitation(&settings(port), "Example Corp");
    // Literal addresses are not looked up; names go to an injected
    // resolver that maps them onto internal addresses.
    let lookups: Arc<Mutex<Vec<String>>> = Arc::default();
    let policy = {
        let lookups = Arc::clone(&lookups);
        DefaultMailPolicy::new().with_resolver(move |host: String| {
            lookups.lock().unwrap().push(host.clone());
            let address: IpAddr = match host.as_str() {
                "localhost" => "127.0.0.1",
                "metadata.internal" => "169.254.169.254",
                "redis.internal" => "10.0.0.7",
                _ => "::1",
            }
            .parse()
            .unwrap();
            async move { Ok(vec![address]) }
        })
    };
    let mailer = vault_mailer().with_policy(policy);
    for host in [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "metadata.internal",
        "redis.internal",
        "anything.test",
    ] {
        let mut settings = settings(port).with_auth("mailer", CredentialRef("smtp/example".into()));
        settings.host = host.to_owned();
        let error = mailer
            .send(&acme(), &settings, &invitation)
            .await
            .unwrap_err();
        assert_failure(&error, MailErrorKind::Configuration, None);
        assert!(error.to_string().contains("not allowed"), "{host}: {error}");
        assert!(!error.to_string().contains("10.0.0.7"), "{error}");
    }
    assert_eq!(
        *lookups.lock().unwrap(),
        [
            "localhost",
            "metadata.internal",
            "redis.internal",
            "anything.test"
        ]
    );
    // And the plain default mailer, with the system resolver, refuses the
    // test server's own address.
    let error = vault_mailer()
        .send(&acme(), &settings(port), &invitation)
        .await
        .unwrap_err();
    assert_failure(&error, MailErrorKind::Configuration, None);
    assert_nobody_connected(&listener);
}

/// The mailer resolves the name once, through the policy, and connects to
/// the address the policy vetted: the name (which no DNS server knows) is
/// never looked up again, so an answer that changes between the check and
/// the connection (DNS rebinding) cannot move the connection.
#[tokio::test(flavor = "multi_thread")]
async fn the_mailer_connects_to_the_address_it_vetted() {
    let lookups = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let policy = {
        let lookups = Arc::clone(&lookups);
        loopback().with_resolver(move |host: String| {
            // First answer: the test server. Any later answer: metadata.
            let first = lookups.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
            assert_eq!(host, "smtp.tenant.test");
            let address: IpAddr = if first {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                "169.254.169.254".parse().unwrap()
            };
            async move { Ok(vec![address]) }
        })
    };
    let mailer = vault_mailer().with_policy(policy);
    let server = Server::start(Behaviour::default());
    let mut settings = settings(server.port);
    settings.host = "smtp.tenant.test".into();
    let invitation = invitation(&settings, "Example Corp");
    mailer
        .send(&acme(), &settings, &invitation)
        .await
        .expect("delivered to the vetted address");
    let session = server.session().await.expect("the mailer connected");
    assert_delivered(&session, &settings, &invitation, "Example Corp");
    assert_eq!(lookups.load(std::sync::atomic::Ordering::SeqCst), 1);

    // The name now points at the metadata service: refused, no connection.
    let error = mailer
        .send(&acme(), &settings, &invitation)
        .await
        .unwrap_err();
    assert_failure(&error, MailErrorKind::Configuration, None);
    assert_eq!(lookups.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// Credentials go only over TLS: settings with authentication and TLS off
/// (stored before the core refused them) fail as configuration, without
/// connecting, unless the host allowed plain credentials to that address.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_never_go_without_tls() {
    let (listener, port) = idle_listener();
    let settings = settings(port).with_auth("mailer", CredentialRef("smtp/example".into()));
    let invitation = invitation(&settings, "Example Corp");
    let strict = vault_mailer()
        .with_policy(DefaultMailPolicy::new().allowing(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let error = strict
        .send(&acme(), &settings, &invitation)
        .await
        .unwrap_err();
    assert_failure(&error, MailErrorKind::Configuration, None);
    assert!(error.to_string().contains("TLS"), "{error}");
    assert_nobody_connected(&listener);
    // The allowance covers only addresses the host named.
    let loose = DefaultMailPolicy::new().allowing_credentials_without_tls();
    assert!(!loose.allows_credentials_without_tls("8.8.8.8:25".parse().unwrap()));
    assert!(loopback().allows_credentials_without_tls("127.0.0.1:25".parse().unwrap()));
    assert!(!loopback().allows_credentials_without_tls("127.0.0.2:25".parse().unwrap()));
}

/// The attack of issue 15, end to end: with a secret of the host in the
/// vault, a tenant administrator points the mail settings at their own
/// server and names that secret. The settings are refused when saved, with
/// the same message as a reference nobody has; nothing reaches the
/// listener; the secret appears nowhere.
#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_cannot_send_the_hosts_secret_to_its_own_server() {
    use org_accounts::{AccountService, Command, Context, InMemoryStore, ServiceError};

    const HOST_SECRET: &str = "postgres://app:s3cret@db.internal/prod";
    let vault = HashMap::from([
        (
            ("acme".to_owned(), "smtp".to_owned()),
            "acme pass".to_owned(),
        ),
        (
            ("host".to_owned(), "HOST_SECRET".to_owned()),
            HOST_SECRET.to_owned(),
        ),
    ]);
    let mailer = SmtpMailer::new(move |org, reference| {
        vault
            .get(&(org.as_str().to_owned(), reference.0.clone()))
            .cloned()
    })
    .with_policy(loopback());
    let service = AccountService::new(InMemoryStore::new())
        .with_mail_policy(mailer.clone())
        .with_mailer(mailer);
    let now: org_accounts::Timestamp = "2026-11-28T09:00:00Z".parse().unwrap();
    let admin = Context::new(email("ada@example.com"), now);
    let id = org("evil");
    service
        .execute(
            &id,
            &Command::CreateOrganization {
                name: "Evil".into(),
            },
            &admin,
        )
        .await
        .unwrap();
    let server = Server::start(Behaviour::default());
    let mut refusals = Vec::new();
    for reference in ["HOST_SECRET", "smtp", "NO_SUCH_SECRET"] {
        let settings = settings(server.port)
            .with_tls(true)
            .with_auth("x", CredentialRef(reference.into()));
        let error = service
            .execute(&id, &Command::SetMailSettings { settings }, &admin)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ServiceError::MailSettingsRefused(_)),
            "{reference}: {error:?}"
        );
        assert_eq!(error.code(), "mail_settings_refused");
        refusals.push(error.to_string());
    }
    assert!(
        refusals.iter().all(|r| *r == refusals[0]),
        "no oracle: {refusals:#?}"
    );
    assert!(refusals[0].contains("credential"), "{}", refusals[0]);
    assert!(!refusals[0].contains("s3cret"));
    assert_eq!(
        service.read(&id, |org| org.version()).await.unwrap(),
        1,
        "nothing stored"
    );
    assert!(
        service
            .read(&id, |org| org.mail_settings().is_none())
            .await
            .unwrap()
    );
    // Nobody ever connected to the tenant's server.
    assert!(server.session().await.is_none());
}
