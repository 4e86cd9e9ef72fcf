//! Whether a host answers at all: one TCP connection, opened and closed, nothing sent. For
//! `praxis doctor --reach`.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Connects to `address`; the time it took, or why it failed.
pub fn tcp_to(address: SocketAddr, timeout: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    TcpStream::connect_timeout(&address, timeout)
        .map(|_| started.elapsed())
        .map_err(|error| format!("{address}: {error}"))
}

/// Resolves `host` and connects to its first address.
pub fn tcp(host: &str, port: u16, timeout: Duration) -> Result<(SocketAddr, Duration), String> {
    let address = (host, port)
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve {host}: {error}"))?
        .next()
        .ok_or_else(|| format!("{host} resolves to no address"))?;
    tcp_to(address, timeout).map(|took| (address, took))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_port_answers_and_a_closed_one_does_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(tcp("127.0.0.1", port, Duration::from_secs(2)).is_ok());
        drop(listener);
        assert!(tcp("127.0.0.1", port, Duration::from_secs(2)).is_err());
        assert!(tcp("no-such-host.invalid", 22, Duration::from_secs(2)).is_err());
    }
}
