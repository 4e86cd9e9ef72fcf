//! The client side of OpenSSH's multiplexing protocol (`PROTOCOL.mux`, version 4): a remote
//! command as a new session on a running master connection, without starting an `ssh`
//! process for it.
//!
//! Invariants:
//! - The session gets `/dev/null` as stdin and two fresh pipes as stdout and stderr, passed to
//!   the master with `SCM_RIGHTS`; no terminal, no X11, no agent forwarding, no escape character,
//!   no environment.
//! - Output is read like a child's (`process::Capture`: hashed in full, head and tail kept).
//! - When the timeout passes, the connection to the master is closed, which makes the master
//!   close the session's channel; praxis waits a short grace for the pipes to close and then
//!   answers whatever happens.
//! - Every packet praxis reads is bounded (256 KiB) and parsed without panicking.

use std::io::{IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};

use super::process::{Capture, ChildOutcome};

const MUX_MSG_HELLO: u32 = 0x0000_0001;
const MUX_C_NEW_SESSION: u32 = 0x1000_0002;
const MUX_C_ALIVE_CHECK: u32 = 0x1000_0004;
const MUX_S_OK: u32 = 0x8000_0001;
const MUX_S_PERMISSION_DENIED: u32 = 0x8000_0002;
const MUX_S_FAILURE: u32 = 0x8000_0003;
const MUX_S_EXIT_MESSAGE: u32 = 0x8000_0004;
const MUX_S_ALIVE: u32 = 0x8000_0005;
const MUX_S_SESSION_OPENED: u32 = 0x8000_0006;
const MUX_S_TTY_ALLOC_FAIL: u32 = 0x8000_0008;
const PROTOCOL_VERSION: u32 = 4;
/// The largest packet praxis accepts from a master.
const MAX_PACKET: usize = 256 * 1024;
/// How long the pipes may stay open after the session ended or timed out.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// Why a session could not be run over the master.
#[derive(Debug, thiserror::Error)]
pub enum MuxError {
    #[error("no master connection answers at {0}")]
    NoMaster(String),
    #[error("the master connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("the master refused the session: {0}")]
    Refused(String),
    #[error("the master spoke something other than mux protocol 4: {0}")]
    Protocol(String),
}

/// An outgoing packet.
#[derive(Default)]
struct Packet(Vec<u8>);

impl Packet {
    fn u32(mut self, value: u32) -> Packet {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    fn string(mut self, value: &[u8]) -> Packet {
        let length = u32::try_from(value.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&length.to_be_bytes());
        self.0.extend_from_slice(value);
        self
    }

    /// Length-prefixed, ready for the socket.
    fn framed(&self) -> Vec<u8> {
        Packet::default().string(&self.0).0
    }
}

/// A packet being read.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    pub fn u32(&mut self) -> Result<u32, MuxError> {
        let (head, rest) = self
            .bytes
            .split_first_chunk::<4>()
            .ok_or_else(|| MuxError::Protocol("a packet ends inside a number".into()))?;
        self.bytes = rest;
        Ok(u32::from_be_bytes(*head))
    }

    pub fn string(&mut self) -> Result<String, MuxError> {
        let length = usize::try_from(self.u32()?).unwrap_or(usize::MAX);
        if length > self.bytes.len() {
            return Err(MuxError::Protocol("a packet ends inside a string".into()));
        }
        let (text, rest) = self.bytes.split_at(length);
        self.bytes = rest;
        Ok(String::from_utf8_lossy(text).into_owned())
    }
}

/// Parses one packet's payload into its type and a reader of the rest.
pub fn parse_packet(payload: &[u8]) -> Result<(u32, Reader<'_>), MuxError> {
    let mut reader = Reader { bytes: payload };
    let kind = reader.u32()?;
    Ok((kind, reader))
}

fn read_packet(stream: &mut UnixStream) -> Result<Vec<u8>, MuxError> {
    let mut length = [0_u8; 4];
    stream.read_exact(&mut length)?;
    let length = usize::try_from(u32::from_be_bytes(length)).unwrap_or(usize::MAX);
    if length > MAX_PACKET {
        return Err(MuxError::Protocol(format!("a {length}-byte packet")));
    }
    let mut payload = vec![0_u8; length];
    stream.read_exact(&mut payload)?;
    Ok(payload)
}

/// Connects to the master at `control_path` and exchanges hellos.
fn connect(control_path: &Path, timeout: Duration) -> Result<UnixStream, MuxError> {
    let mut stream = UnixStream::connect(control_path)
        .map_err(|error| MuxError::NoMaster(format!("{}: {error}", control_path.display())))?;
    stream.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
    stream.set_write_timeout(Some(timeout.max(Duration::from_millis(1))))?;
    stream.write_all(
        &Packet::default()
            .u32(MUX_MSG_HELLO)
            .u32(PROTOCOL_VERSION)
            .framed(),
    )?;
    let payload = read_packet(&mut stream)?;
    let (kind, mut reader) = parse_packet(&payload)?;
    let version = reader.u32()?;
    if kind != MUX_MSG_HELLO || version != PROTOCOL_VERSION {
        return Err(MuxError::Protocol(format!(
            "hello {kind:#x} version {version}"
        )));
    }
    Ok(stream)
}

/// Whether a master answers at `control_path`.
pub fn alive(control_path: &Path) -> bool {
    let Ok(mut stream) = connect(control_path, Duration::from_secs(2)) else {
        return false;
    };
    let request = Packet::default().u32(MUX_C_ALIVE_CHECK).u32(1).framed();
    if stream.write_all(&request).is_err() {
        return false;
    }
    read_packet(&mut stream)
        .ok()
        .and_then(|payload| parse_packet(&payload).ok().map(|(kind, _)| kind))
        == Some(MUX_S_ALIVE)
}

/// Sends one file descriptor with one byte, as ssh's `mm_send_fd` does.
fn send_fd(stream: &UnixStream, fd: impl AsFd) -> Result<(), MuxError> {
    let fds = [fd.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(MuxError::Protocol("no room to pass a descriptor".into()));
    }
    let sent = sendmsg(
        stream,
        &[IoSlice::new(&[0])],
        &mut control,
        SendFlags::empty(),
    )
    .map_err(std::io::Error::from)?;
    if sent == 1 {
        Ok(())
    } else {
        Err(MuxError::Protocol("a descriptor was not sent".into()))
    }
}

/// Runs `command` as a new session on the master at `control_path`.
pub fn run_session(
    control_path: &Path,
    command: &str,
    timeout: Duration,
    capture_limit: usize,
) -> Result<ChildOutcome, MuxError> {
    let started = Instant::now();
    let mut stream = connect(control_path, timeout)?;
    let request = Packet::default()
        .u32(MUX_C_NEW_SESSION)
        .u32(1)
        .string(b"")
        .u32(0) // no terminal
        .u32(0) // no X11 forwarding
        .u32(0) // no agent forwarding
        .u32(0) // a command, not a subsystem
        .u32(0xffff_ffff) // no escape character
        .string(b"")
        .string(command.as_bytes())
        .framed();
    stream.write_all(&request)?;
    let stdin = std::fs::File::open("/dev/null")?;
    let (stdout_read, stdout_write) = std::io::pipe()?;
    let (stderr_read, stderr_write) = std::io::pipe()?;
    send_fd(&stream, &stdin)?;
    send_fd(&stream, &stdout_write)?;
    send_fd(&stream, &stderr_write)?;
    // The master holds the only write ends now: the pipes end when the session does.
    drop((stdin, stdout_write, stderr_write));
    let half = capture_limit / 2;
    let (sender, captured) = mpsc::channel();
    for (index, pipe) in [(0, stdout_read), (1, stderr_read)] {
        let sender = sender.clone();
        std::thread::spawn(move || {
            drop(sender.send((index, Capture::read(pipe, half))));
        });
    }
    drop(sender);

    let opened = read_packet(&mut stream)?;
    let (kind, mut reader) = parse_packet(&opened)?;
    match kind {
        MUX_S_SESSION_OPENED => {}
        MUX_S_PERMISSION_DENIED | MUX_S_FAILURE => {
            reader.u32()?;
            return Err(MuxError::Refused(reader.string()?));
        }
        other => {
            return Err(MuxError::Protocol(format!(
                "reply {other:#x} to a new session"
            )));
        }
    }
    let (exit_code, timed_out) = wait_for_exit(&mut stream, started, timeout)?;
    // Closing the connection makes the master close the session's channel (on a timeout, the
    // remote command's output pipes with it).
    drop(stream);
    let mut outputs: [Option<Capture>; 2] = [None, None];
    let grace_ends = Instant::now() + DRAIN_GRACE;
    while outputs.iter().any(Option::is_none) {
        let left = grace_ends.saturating_duration_since(Instant::now());
        match captured.recv_timeout(left) {
            Ok((index, capture)) => outputs[index] = Some(capture),
            Err(_) => break,
        }
    }
    let [stdout, stderr] = outputs;
    let (output_sha256, output_len, preview) = stdout.unwrap_or_default().finish();
    let (_, _, stderr_preview) = stderr.unwrap_or_default().finish();
    Ok(ChildOutcome {
        exit_code,
        signal: None,
        timed_out,
        output_sha256,
        output_len,
        preview,
        stderr_preview,
        duration: started.elapsed(),
    })
}

/// Reads the master's messages until the session's exit status, the end of the connection
/// (no status: a signal ended the command or the host went away) or the timeout.
fn wait_for_exit(
    stream: &mut UnixStream,
    started: Instant,
    timeout: Duration,
) -> Result<(Option<i32>, bool), MuxError> {
    let mut exit_code = None;
    let mut timed_out = false;
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            timed_out = true;
            break;
        }
        stream.set_read_timeout(Some(left))?;
        match read_packet(stream) {
            Ok(payload) => {
                let (kind, mut reader) = parse_packet(&payload)?;
                match kind {
                    MUX_S_EXIT_MESSAGE => {
                        reader.u32()?;
                        exit_code = Some(i32::try_from(reader.u32()?).unwrap_or(i32::MAX));
                        break;
                    }
                    MUX_S_TTY_ALLOC_FAIL | MUX_S_OK => {}
                    other => {
                        return Err(MuxError::Protocol(format!("{other:#x} during a session")));
                    }
                }
            }
            // The master closed the connection without an exit status (a signal ended the
            // remote command, or the connection to the host broke).
            Err(MuxError::Io(error)) if error.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(MuxError::Io(error))
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                timed_out = true;
                break;
            }
            Err(error) => return Err(error),
        }
    }
    Ok((exit_code, timed_out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_length_prefixed_big_endian() {
        let packet = Packet::default()
            .u32(MUX_MSG_HELLO)
            .u32(4)
            .string(b"ab")
            .framed();
        assert_eq!(
            packet,
            [0, 0, 0, 14, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2, b'a', b'b']
        );
        let (kind, mut reader) = parse_packet(&packet[4..]).unwrap();
        assert_eq!(kind, MUX_MSG_HELLO);
        assert_eq!(reader.u32().unwrap(), 4);
        assert_eq!(reader.string().unwrap(), "ab");
        assert!(reader.u32().is_err(), "nothing is left");
    }

    #[test]
    fn truncated_or_lying_packets_are_errors_not_panics() {
        for payload in [
            &[][..],
            &[0, 0, 0][..],
            &[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, b'x'][..],
        ] {
            let parsed = parse_packet(payload).and_then(|(_, mut reader)| reader.string());
            assert!(parsed.is_err(), "{payload:?}");
        }
    }

    #[test]
    fn no_master_is_an_error_that_names_the_socket() {
        let path = std::env::temp_dir().join(format!("praxis-no-master-{}", std::process::id()));
        let error = run_session(&path, "true", Duration::from_secs(1), 1024).unwrap_err();
        assert!(matches!(error, MuxError::NoMaster(_)), "{error}");
        assert!(!alive(&path));
    }
}
