//! The Redfish adapter: a BMC's system resource over HTTPS (rustls), at the URL the inventory
//! records and nowhere else.
//!
//! Invariants:
//! - The only origin is the inventory URL's (`https://host[:port]`); an action names an
//!   operation (`status`, a reset type) or a `GET` of a path under `/redfish/v1` on that origin,
//!   never a URL. Plain `http://` is refused: credentials would cross the network in clear.
//! - Every connection goes to an address that passed the egress filter (`adapters::egress`):
//!   an IP literal in the URL is itself checked; a name must resolve only to allowed addresses
//!   and only to the address the inventory records for the BMC (a name without one is
//!   refused), and the connection is pinned to that checked address.
//! - Credentials come from the configuration's credential (a password file or variable) and are
//!   sent only as the request's `Authorization` header; the server certificate is verified
//!   against the credential's CA file, for the URL's host name or IP.
//! - Responses are read to at most 1 MiB and parsed by `parse_response`, which is fuzzed.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};

use super::egress::{EgressDenied, EgressPolicy};
use crate::digest::Digest;

/// The most of a response praxis reads.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// What a Redfish action asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedfishOperation {
    /// The system resource: power state, model, health.
    Status,
    /// Any resource under `/redfish/v1` on the BMC.
    Get(String),
    /// `ComputerSystem.Reset` with this reset type.
    Reset(&'static str),
}

/// The reset types and the names an action may use for them.
const RESETS: &[(&str, &[&str])] = &[
    ("On", &["On", "power-on", "PowerOn"]),
    ("ForceOn", &["ForceOn", "force-on"]),
    ("GracefulRestart", &["GracefulRestart", "graceful-restart"]),
    (
        "GracefulShutdown",
        &["GracefulShutdown", "graceful-shutdown"],
    ),
    ("PushPowerButton", &["PushPowerButton", "push-power-button"]),
    ("Nmi", &["Nmi", "nmi"]),
    ("ForceOff", &["ForceOff", "force-off"]),
    ("ForceRestart", &["ForceRestart", "force-restart"]),
    ("PowerCycle", &["PowerCycle", "power-cycle"]),
];

/// Reads an action: `status`, `GET /redfish/v1/...`, or a reset type.
pub fn parse_operation(action: &str) -> Result<RedfishOperation, String> {
    let words: Vec<&str> = action.split_whitespace().collect();
    match words.as_slice() {
        [word] if ["status", "get", "GET", "inventory", "power-state"].contains(word) => {
            Ok(RedfishOperation::Status)
        }
        [verb, path] if *verb == "GET" || *verb == "get" => {
            let plain = |c: char| c.is_ascii_alphanumeric() || "/._-#@$".contains(c);
            if path.starts_with("/redfish/v1")
                && path.len() <= 512
                && path.chars().all(plain)
                && !path.split('/').any(|part| part == "..")
            {
                Ok(RedfishOperation::Get((*path).to_owned()))
            } else {
                Err(format!(
                    "a Redfish GET takes a path under /redfish/v1 on the inventory's BMC (letters, digits, /._-#@$), never a URL or another host: {:?}",
                    crate::audit::cut(path, 200)
                ))
            }
        }
        [word] => RESETS
            .iter()
            .find(|(_, names)| names.contains(word))
            .map(|(reset, _)| RedfishOperation::Reset(reset))
            .ok_or_else(|| unknown(action)),
        _ => Err(unknown(action)),
    }
}

fn unknown(action: &str) -> String {
    format!(
        "unknown Redfish operation {:?}; use status, GET /redfish/v1/..., or a reset type (On, GracefulRestart, GracefulShutdown, ForceOff, ForceRestart, PowerCycle, ...)",
        crate::audit::cut(action, 200)
    )
}

/// The inventory's URL, taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BmcUrl {
    /// A host name, or an IP address without brackets.
    pub host: String,
    pub port: u16,
    /// The system resource's path.
    pub path: String,
}

impl BmcUrl {
    /// Parses an `https://host[:port]/path` URL (the inventory has already refused user
    /// information and control characters).
    pub fn parse(url: &str) -> Result<BmcUrl, RedfishError> {
        let rest = url.strip_prefix("https://").ok_or_else(|| {
            RedfishError::Url(
                "only https:// BMC URLs are used: credentials must not cross the network in clear"
                    .into(),
            )
        })?;
        let (authority, path) = rest
            .find('/')
            .map_or((rest, "/"), |slash| (&rest[..slash], &rest[slash..]));
        if path.contains(['?', '#']) || authority.contains('@') || authority.is_empty() {
            return Err(RedfishError::Url(
                "the BMC URL must be https://host[:port]/path without query, fragment or user"
                    .into(),
            ));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| RedfishError::Url("unclosed [ in the BMC URL".into()))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) if !host.contains(':') => (host, Some(port)),
                _ => (authority, None),
            }
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '%' | '_'));
        let path_ok = path.chars().all(|c| {
            c.is_ascii_graphic()
                && !matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}')
        });
        if !host_ok || !path_ok {
            return Err(RedfishError::Url(
                "the BMC URL's host or path holds characters a URL cannot".into(),
            ));
        }
        let port = match port {
            None => 443,
            Some(port) => port
                .parse()
                .map_err(|_| RedfishError::Url(format!("bad port {port:?} in the BMC URL")))?,
        };
        Ok(BmcUrl {
            host: host.to_owned(),
            port,
            path: path.trim_end_matches('/').to_owned(),
        })
    }

    /// `https://host:port`.
    pub fn origin(&self) -> String {
        if self.host.contains(':') {
            format!("https://[{}]:{}", self.host, self.port)
        } else {
            format!("https://{}:{}", self.host, self.port)
        }
    }
}

/// The request an operation makes: method, URL, and body for a reset.
pub fn request_preview(url: &BmcUrl, operation: &RedfishOperation) -> Vec<String> {
    match operation {
        RedfishOperation::Status => vec!["GET".into(), format!("{}{}", url.origin(), url.path)],
        RedfishOperation::Get(path) => vec!["GET".into(), format!("{}{path}", url.origin())],
        RedfishOperation::Reset(reset) => vec![
            "POST".into(),
            format!("{}{}/Actions/ComputerSystem.Reset", url.origin(), url.path),
            json!({ "ResetType": reset }).to_string(),
        ],
    }
}

/// Where the BMC is: the inventory's URL and, for a URL with a host name, its address.
#[derive(Clone, Debug)]
pub struct RedfishTarget {
    pub host: String,
    pub url: String,
    pub address: Option<IpAddr>,
}

/// The secret side of a BMC credential, loaded for one call.
pub struct RedfishCredential {
    pub user: String,
    pub password: String,
    /// PEM certificates the BMC's certificate must chain to.
    pub ca_pem: Vec<u8>,
}

impl std::fmt::Debug for RedfishCredential {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RedfishCredential")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Why a Redfish call did not happen or failed.
#[derive(Debug, thiserror::Error)]
pub enum RedfishError {
    #[error("{0}")]
    Url(String),
    #[error("the BMC's address is refused: {0}")]
    Egress(#[from] EgressDenied),
    #[error(
        "the BMC URL names {0}, and the inventory records no address for it (praxis_redfish_address); praxis connects to names only when it can check what they resolve to"
    )]
    NoRecordedAddress(String),
    #[error("cannot resolve {0}: {1}")]
    Resolve(String, String),
    #[error("the credential's CA file holds no usable certificate: {0}")]
    Trust(String),
    #[error("cannot reach the BMC at {0}: {1}")]
    Connect(SocketAddr, String),
    #[error("the BMC's answer is not HTTP praxis can read: {0}")]
    Response(String),
}

/// The addresses praxis may connect to for `url`, checked against `egress` and the inventory.
pub fn checked_addresses(
    target: &RedfishTarget,
    url: &BmcUrl,
    egress: &EgressPolicy,
) -> Result<Vec<IpAddr>, RedfishError> {
    if let Ok(literal) = url.host.parse::<IpAddr>() {
        let expected = target.address.unwrap_or(literal);
        return Ok(egress.check_resolved(&[literal], Some(expected))?);
    }
    let expected = target
        .address
        .ok_or_else(|| RedfishError::NoRecordedAddress(url.host.clone()))?;
    let resolved: Vec<IpAddr> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|error| RedfishError::Resolve(url.host.clone(), error.to_string()))?
        .map(|address| address.ip())
        .collect();
    Ok(egress.check_resolved(&resolved, Some(expected))?)
}

/// One HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// GETs `path` (the system resource when `None`) from the BMC of `target`.
pub fn get(
    target: &RedfishTarget,
    path: Option<&str>,
    credential: &RedfishCredential,
    egress: &EgressPolicy,
    timeout: Duration,
) -> Result<HttpResponse, RedfishError> {
    exchange(target, Exchange::Get(path), credential, egress, timeout)
}

/// Sends `ComputerSystem.Reset` with `reset_type` to the system resource of `target`: the
/// request `request_preview` shows. The adapter does not judge it; the actuator reaches this
/// only for an action the gates passed (an approved one, or a T1 power-on in a clean
/// session), and the lab tests call it directly too.
pub fn reset(
    target: &RedfishTarget,
    reset_type: &str,
    credential: &RedfishCredential,
    egress: &EgressPolicy,
    timeout: Duration,
) -> Result<HttpResponse, RedfishError> {
    exchange(
        target,
        Exchange::Reset(reset_type),
        credential,
        egress,
        timeout,
    )
}

/// One request praxis makes of a BMC.
#[derive(Clone, Copy)]
enum Exchange<'a> {
    Get(Option<&'a str>),
    Reset(&'a str),
}

fn exchange(
    target: &RedfishTarget,
    what: Exchange<'_>,
    credential: &RedfishCredential,
    egress: &EgressPolicy,
    timeout: Duration,
) -> Result<HttpResponse, RedfishError> {
    let url = BmcUrl::parse(&target.url)?;
    let addresses = checked_addresses(target, &url, egress)?;
    let address = SocketAddr::new(addresses[0], url.port);
    let started = Instant::now();
    let config = tls_config(&credential.ca_pem)?;
    let server_name = match url.host.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(url.host.clone())
            .map_err(|error| RedfishError::Url(format!("bad host name: {error}")))?,
    };
    let connect = |error: std::io::Error| RedfishError::Connect(address, error.to_string());
    let tcp = TcpStream::connect_timeout(&address, timeout).map_err(connect)?;
    let left = timeout
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(1));
    tcp.set_read_timeout(Some(left)).map_err(connect)?;
    tcp.set_write_timeout(Some(left)).map_err(connect)?;
    let connection = rustls::ClientConnection::new(config, server_name)
        .map_err(|error| RedfishError::Connect(address, error.to_string()))?;
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    let (method, path, body) = match what {
        Exchange::Get(path) => ("GET", path.unwrap_or(&url.path).to_owned(), String::new()),
        Exchange::Reset(reset_type) => (
            "POST",
            format!("{}/Actions/ComputerSystem.Reset", url.path),
            json!({ "ResetType": reset_type }).to_string(),
        ),
    };
    let content = if body.is_empty() {
        String::new()
    } else {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {}\r\nAccept: application/json\r\nUser-Agent: praxis/{}\r\n{content}Connection: close\r\n\r\n{body}",
        url.origin().trim_start_matches("https://"),
        base64(format!("{}:{}", credential.user, credential.password).as_bytes()),
        env!("CARGO_PKG_VERSION"),
    );
    stream.write_all(request.as_bytes()).map_err(connect)?;
    stream.flush().map_err(connect)?;
    let mut received = Vec::new();
    let mut buffer = [0_u8; 16 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => {
                received.extend_from_slice(&buffer[..count]);
                if received.len() > MAX_RESPONSE_BYTES {
                    return Err(RedfishError::Response(format!(
                        "more than {MAX_RESPONSE_BYTES} bytes"
                    )));
                }
            }
            // Many BMCs close without a TLS close_notify; what arrived is judged by its framing.
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(error) => return Err(connect(error)),
        }
    }
    parse_response(&received).map_err(RedfishError::Response)
}

/// A TLS configuration that trusts only the certificates in `ca_pem`.
fn tls_config(ca_pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, RedfishError> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(ca_pem) {
        let certificate = certificate.map_err(|error| RedfishError::Trust(error.to_string()))?;
        roots
            .add(certificate)
            .map_err(|error| RedfishError::Trust(error.to_string()))?;
    }
    if roots.is_empty() {
        return Err(RedfishError::Trust("no PEM certificate in it".into()));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| RedfishError::Trust(error.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Parses an HTTP/1.1 response: status line, headers, and a body framed by chunked encoding,
/// `Content-Length` or the end of the stream.
pub fn parse_response(bytes: &[u8]) -> Result<HttpResponse, String> {
    let end = bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&bytes[..end]).map_err(|_| "headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("no status line")?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!(
            "not an HTTP/1 status line: {:?}",
            crate::audit::cut(status_line, 80)
        ));
    }
    let status: u16 = parts
        .next()
        .and_then(|code| code.parse().ok())
        .filter(|code| (100..1000).contains(code))
        .ok_or("bad status code")?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':').ok_or("a header without ':'")?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| "bad Content-Length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let rest = &bytes[end + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(length) = length {
        rest.get(..length)
            .ok_or("the body is shorter than its Content-Length")?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse { status, body })
}

/// Decodes a chunked body.
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|window| window == b"\r\n")
            .ok_or("a chunk size without an end of line")?;
        let size_text =
            std::str::from_utf8(&rest[..line_end]).map_err(|_| "a chunk size is not text")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "a bad chunk size")?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or("a chunk is shorter than its size")?;
        body.extend_from_slice(chunk);
        if body.len() > MAX_RESPONSE_BYTES {
            return Err("the body is too large".into());
        }
        rest = rest
            .get(size + 2..)
            .ok_or("a chunk without its end of line")?;
    }
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let value = chunk
            .iter()
            .enumerate()
            .fold(0_u32, |value, (index, byte)| {
                value | u32::from(*byte) << (16 - 8 * index)
            });
        for index in 0..4 {
            if index <= chunk.len() {
                let sextet = (value >> (18 - 6 * index)) & 0x3f;
                out.push(char::from(ALPHABET[sextet as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The summary of a system resource a status read returns.
pub fn system_summary(body: &Value) -> Value {
    json!({
        "power_state": body["PowerState"],
        "name": body["Name"],
        "id": body["Id"],
        "manufacturer": body["Manufacturer"],
        "model": body["Model"],
        "health": body["Status"]["Health"],
        "state": body["Status"]["State"],
    })
}

/// SHA-256 and length of a response body, as the audit record keeps them.
pub fn body_digest(body: &[u8]) -> (Digest, u64) {
    (
        Digest::of(body),
        u64::try_from(body.len()).unwrap_or(u64::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_operations_never_urls() {
        assert_eq!(parse_operation("status"), Ok(RedfishOperation::Status));
        assert_eq!(
            parse_operation("ForceOff"),
            Ok(RedfishOperation::Reset("ForceOff"))
        );
        assert_eq!(
            parse_operation("power-on"),
            Ok(RedfishOperation::Reset("On"))
        );
        assert_eq!(
            parse_operation("GET /redfish/v1/Managers"),
            Ok(RedfishOperation::Get("/redfish/v1/Managers".into()))
        );
        for bad in [
            "GET https://169.254.169.254/latest/meta-data",
            "GET //10.0.0.9/redfish/v1",
            "GET /redfish/v1/../../etc",
            "GET /other",
            "POST /redfish/v1/Systems/1",
            "rm -rf /",
            "ForceOff now",
            "",
        ] {
            assert!(parse_operation(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_are_https_with_a_host_and_a_port() {
        let url = BmcUrl::parse("https://10.0.0.5/redfish/v1/Systems/1/").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.path.as_str()),
            ("10.0.0.5", 443, "/redfish/v1/Systems/1")
        );
        let url = BmcUrl::parse("https://[fd00::5]:8443/redfish/v1/Systems/1").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("fd00::5", 8443));
        assert_eq!(url.origin(), "https://[fd00::5]:8443");
        for bad in [
            "http://10.0.0.5/redfish/v1",
            "https://user@10.0.0.5/",
            "https://10.0.0.5:99999/",
            "https://10.0.0.5/redfish?x=1",
            "https:///redfish",
            "https://10.0.0.5\r\nX-Injected: 1/redfish",
            "https://10.0.0.5/redfish v1",
        ] {
            assert!(BmcUrl::parse(bad).is_err(), "{bad}");
        }
        let preview = request_preview(
            &BmcUrl::parse("https://10.0.0.5:8000/redfish/v1/Systems/1").unwrap(),
            &RedfishOperation::Reset("ForceOff"),
        );
        assert_eq!(
            preview,
            [
                "POST",
                "https://10.0.0.5:8000/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                "{\"ResetType\":\"ForceOff\"}"
            ]
        );
    }

    #[test]
    fn addresses_must_pass_the_filter_and_match_the_inventory() {
        let egress = EgressPolicy::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let target = |url: &str, address: Option<&str>| RedfishTarget {
            host: "bmc-1".into(),
            url: url.into(),
            address: address.map(|text| text.parse().unwrap()),
        };
        let check = |target: &RedfishTarget| {
            checked_addresses(target, &BmcUrl::parse(&target.url).unwrap(), &egress)
        };
        assert_eq!(
            check(&target("https://10.0.0.5/redfish/v1/Systems/1", None)).unwrap(),
            ["10.0.0.5".parse::<IpAddr>().unwrap()]
        );
        // The literal disagrees with the recorded address.
        assert!(matches!(
            check(&target("https://10.0.0.5/redfish/v1", Some("10.0.0.6"))),
            Err(RedfishError::Egress(
                EgressDenied::NotInventoryAddress { .. }
            ))
        ));
        // Outside the allowlist, and metadata whatever the allowlist says.
        assert!(check(&target("https://192.168.1.5/redfish/v1", None)).is_err());
        assert!(check(&target("https://169.254.169.254/redfish/v1", None)).is_err());
        assert!(check(&target("https://[::ffff:169.254.169.254]/redfish/v1", None)).is_err());
        // A name needs a recorded address; `localhost` resolves to loopback, not 10.0.0.5.
        assert!(matches!(
            check(&target("https://localhost/redfish/v1", None)),
            Err(RedfishError::NoRecordedAddress(_))
        ));
        assert!(matches!(
            check(&target("https://localhost/redfish/v1", Some("10.0.0.5"))),
            Err(RedfishError::Egress(_))
        ));
    }

    #[test]
    fn responses_are_framed_by_length_chunks_or_the_end() {
        let plain = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra").unwrap();
        assert_eq!(
            (plain.status, plain.body.as_slice()),
            (200, b"{}".as_slice())
        );
        let chunked = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4;x=y\r\n\":1}\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(chunked.body, b"{\"a\":1}");
        let to_end = parse_response(b"HTTP/1.0 401 Unauthorized\r\nServer: x\r\n\r\nno").unwrap();
        assert_eq!(
            (to_end.status, to_end.body.as_slice()),
            (401, b"no".as_slice())
        );
        for bad in [
            b"".as_slice(),
            b"HTTP/1.1 200 OK\r\n",
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n",
        ] {
            assert!(
                parse_response(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("admin:password", "YWRtaW46cGFzc3dvcmQ="),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn a_credential_never_prints_its_password() {
        let credential = RedfishCredential {
            user: "admin".into(),
            password: "hunter2".into(),
            ca_pem: Vec::new(),
        };
        assert!(!format!("{credential:?}").contains("hunter2"));
    }
}
