//! A guarded stdio transport for rmcp: bounded line framing with an answer for every bad line.
//!
//! rmcp's own stdio framing silently drops unparsable lines and oversized messages; an
//! operator's client then waits forever. This transport answers them instead:
//! - a line longer than the limit is drained without being buffered and answered
//!   `-32600 request too large`;
//! - invalid JSON (including nesting deeper than `serde_json`'s limit of 128) is answered
//!   `-32700 parse error`;
//! - valid JSON that is not a JSON-RPC message is answered `-32600 invalid request`, with the
//!   request's id when it has one.
//!
//! Invariants:
//! - Every line written to stdout is one complete JSON-RPC message: all writes go through one
//!   writer task that writes whole lines, so concurrent responses never interleave.
//! - Memory per connection is bounded by the line limit, whatever the peer sends.
//! - `receive` is cancel-safe (rmcp polls it inside `select!`): partial lines live in `self`.
//! - At most `MAX_PENDING_REQUESTS` requests are read ahead of their responses; further input
//!   waits in the pipe, so a client that floods requests cannot grow the server's memory.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rmcp::RoleServer;
use rmcp::model::{ClientNotification, JsonRpcMessage, RequestId};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

/// Requests read but not yet answered, at most.
pub const MAX_PENDING_REQUESTS: usize = 32;

/// JSON-RPC: invalid JSON.
const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: not a valid request object.
const INVALID_REQUEST: i64 = -32600;

/// Counts of lines the guard answered itself (for the end-of-session record and tests).
#[derive(Default, Debug)]
pub struct GuardCounters {
    pub oversized: AtomicU64,
    pub parse_errors: AtomicU64,
    pub invalid_requests: AtomicU64,
}

/// The transport.
pub struct GuardedStdio<R> {
    reader: R,
    line: Vec<u8>,
    /// Set while the rest of an oversized line is being skipped: bytes seen so far.
    discarding: Option<u64>,
    max_line_bytes: usize,
    outbound: Option<mpsc::Sender<Vec<u8>>>,
    counters: Arc<GuardCounters>,
    /// Requests read and not yet answered (or cancelled), with a semaphore of room for more.
    pending: Arc<Pending>,
}

/// The read-ahead budget. A permit is taken when a request is read and returned when its
/// response (or error) is sent, or when the client cancels it (rmcp sends no response to a
/// cancelled request, so the cancellation must return the permit).
struct Pending {
    room: Semaphore,
    ids: std::sync::Mutex<std::collections::HashSet<RequestId>>,
}

impl Pending {
    /// Frees the permit of `id` if it is still held; a second release is a no-op.
    fn release(&self, id: &RequestId) {
        let removed = self
            .ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
        if removed {
            self.room.add_permits(1);
        }
    }
}

impl<R: AsyncBufRead + Send + Unpin> GuardedStdio<R> {
    /// A transport reading `reader` and queueing whole lines on `outbound` (see `spawn_writer`).
    pub fn new(
        reader: R,
        outbound: mpsc::Sender<Vec<u8>>,
        max_line_bytes: usize,
        counters: Arc<GuardCounters>,
    ) -> GuardedStdio<R> {
        GuardedStdio {
            reader,
            line: Vec::new(),
            discarding: None,
            max_line_bytes,
            outbound: Some(outbound),
            counters,
            pending: Arc::new(Pending {
                room: Semaphore::new(MAX_PENDING_REQUESTS),
                ids: std::sync::Mutex::new(std::collections::HashSet::new()),
            }),
        }
    }

    async fn reply_error(&mut self, id: Value, code: i64, message: String) {
        let response =
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
        let mut bytes = response.to_string().into_bytes();
        bytes.push(b'\n');
        if let Some(outbound) = self.outbound.clone()
            && outbound.send(bytes).await.is_err()
        {
            tracing::warn!("stdout is closed; an error reply was dropped");
        }
    }

    /// Reads until a whole line is in `self.line` (`Ok(true)`), or EOF (`Ok(false)`).
    /// Oversized lines are drained and answered here.
    async fn fill_line(&mut self) -> io::Result<bool> {
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                return Ok(false);
            }
            let newline = available.iter().position(|byte| *byte == b'\n');
            let take = newline.map_or(available.len(), |index| index + 1);
            if let Some(seen) = self.discarding.as_mut() {
                *seen += take as u64;
                self.reader.consume(take);
                if newline.is_some() {
                    let total = self.discarding.take().unwrap_or_default();
                    self.counters.oversized.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(bytes = total, "oversized message discarded");
                    let message = format!(
                        "request too large: the message was {total} bytes, over the {}-byte limit",
                        self.max_line_bytes
                    );
                    self.reply_error(Value::Null, INVALID_REQUEST, message)
                        .await;
                }
                continue;
            }
            if self.line.len() + take > self.max_line_bytes + 1 {
                // Too long: stop buffering and skip to the end of this line.
                let kept = self.line.len() as u64;
                self.line = Vec::new();
                self.discarding = Some(kept);
                continue;
            }
            self.line.extend_from_slice(&available[..take]);
            self.reader.consume(take);
            if newline.is_some() {
                return Ok(true);
            }
        }
    }

    /// Turns one complete line into a message, or the error reply it deserves, counting
    /// the bad ones.
    fn decode(&self, line: &[u8]) -> Result<RxJsonRpcMessage<RoleServer>, Option<ErrorReply>> {
        let decoded = decode_line(line);
        if let Err(Some(reply)) = &decoded {
            let counter = if reply.code == PARSE_ERROR {
                &self.counters.parse_errors
            } else {
                &self.counters.invalid_requests
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        decoded
    }
}

/// A JSON-RPC error the guard sends for a line it could not pass on.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorReply {
    /// The request's id when it had a usable one, else `null`.
    pub id: Value,
    /// `-32700` (parse error) or `-32600` (invalid request).
    pub code: i64,
    pub message: String,
}

/// Decodes one line (without its newline): a message for rmcp, the error reply the line
/// deserves, or `Err(None)` for a malformed notification, which gets no reply.
/// Pure and total: it never panics, whatever the bytes (fuzzed in `fuzz/`).
pub fn decode_line(line: &[u8]) -> Result<RxJsonRpcMessage<RoleServer>, Option<ErrorReply>> {
    let reply = |id: Value, code: i64, message: String| Some(ErrorReply { id, code, message });
    match serde_json::from_slice::<RxJsonRpcMessage<RoleServer>>(line) {
        Ok(message) => return Ok(message),
        Err(error) if error.is_syntax() || error.is_eof() => {
            return Err(reply(Value::Null, PARSE_ERROR, parse_error_message(&error)));
        }
        Err(_) => {}
    }
    // Valid JSON (or a data error inside valid JSON): find out what is wrong with it.
    let value: Value = serde_json::from_slice(line)
        .map_err(|error| reply(Value::Null, PARSE_ERROR, parse_error_message(&error)))?;
    let Value::Object(object) = &value else {
        return Err(reply(
            Value::Null,
            INVALID_REQUEST,
            "invalid request: a message must be one JSON object (batches are not supported)".into(),
        ));
    };
    let id = match object.get("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
        _ => Value::Null,
    };
    let detail = match (object.get("jsonrpc"), object.get("method")) {
        (Some(Value::String(version)), _) if version != "2.0" => {
            "invalid request: jsonrpc must be \"2.0\"".to_owned()
        }
        (None, _) => "invalid request: the jsonrpc member is missing".to_owned(),
        (_, Some(Value::String(method))) => format!(
            "invalid request: the params of `{}` do not match the method",
            crate::audit::cut(method, 128)
        ),
        _ => "invalid request: not a JSON-RPC 2.0 request, notification or response".to_owned(),
    };
    if object.get("method").is_some() && object.get("id").is_none() {
        // A malformed notification gets no reply (JSON-RPC never answers notifications).
        tracing::warn!(%detail, "malformed notification ignored");
        return Err(None);
    }
    Err(reply(id, INVALID_REQUEST, detail))
}

fn parse_error_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    if text.contains("recursion limit") {
        "parse error: input too deeply nested".to_owned()
    } else {
        format!("parse error: {text}")
    }
}

/// Starts the one task that writes to `writer`; it ends when every sender is dropped and the
/// queue is flushed, so awaiting it guarantees every queued response reached the writer.
pub fn spawn_writer<W: AsyncWrite + Send + Unpin + 'static>(
    writer: W,
) -> (mpsc::Sender<Vec<u8>>, JoinHandle<()>) {
    let (outbound, queue) = mpsc::channel::<Vec<u8>>(256);
    (outbound, tokio::spawn(write_lines(writer, queue)))
}

async fn write_lines<W: AsyncWrite + Unpin>(mut writer: W, mut queue: mpsc::Receiver<Vec<u8>>) {
    while let Some(line) = queue.recv().await {
        let written = async {
            writer.write_all(&line).await?;
            writer.flush().await
        }
        .await;
        if let Err(error) = written {
            tracing::warn!(%error, "stdout closed; no more responses can be sent");
            return;
        }
    }
}

impl<R: AsyncBufRead + Send + Unpin> Transport<RoleServer> for GuardedStdio<R> {
    type Error = io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), io::Error>> + Send + 'static {
        let outbound = self.outbound.clone();
        // The request this message answers: its read-ahead slot is returned once the answer
        // is queued for stdout (not when rmcp hands it over), so a client that stops reading
        // stdout also stops praxis from reading more requests.
        let answered = match &item {
            JsonRpcMessage::Response(response) => Some(response.id.clone()),
            JsonRpcMessage::Error(error) => error.id.clone(),
            JsonRpcMessage::Request(_) | JsonRpcMessage::Notification(_) => None,
        };
        let pending = Arc::clone(&self.pending);
        async move {
            let mut bytes = serde_json::to_vec(&item).map_err(io::Error::other)?;
            drop(item);
            bytes.push(b'\n');
            let queued = match outbound {
                Some(outbound) => outbound
                    .send(bytes)
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "stdout is closed")),
                None => Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "transport closed",
                )),
            };
            if let Some(id) = &answered {
                pending.release(id);
            }
            queued
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            // Wait for room before reading: backpressure into the client's pipe.
            let pending = Arc::clone(&self.pending);
            let Ok(permit) = pending.room.acquire().await else {
                return None;
            };
            match self.fill_line().await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(error) => {
                    tracing::warn!(%error, "stdin read failed; treating it as end of input");
                    return None;
                }
            }
            let line = std::mem::take(&mut self.line);
            let mut trimmed: &[u8] = &line;
            while let [rest @ .., b'\n' | b'\r' | b' ' | b'\t'] = trimmed {
                trimmed = rest;
            }
            if trimmed.is_empty() {
                continue;
            }
            match self.decode(trimmed) {
                Ok(message) => {
                    match &message {
                        JsonRpcMessage::Request(request) => {
                            let fresh = pending
                                .ids
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .insert(request.id.clone());
                            if fresh {
                                // Returned by `send` when the response goes out.
                                permit.forget();
                            }
                        }
                        JsonRpcMessage::Notification(notification) => {
                            if let ClientNotification::CancelledNotification(cancelled) =
                                &notification.notification
                                && let Some(id) = &cancelled.params.request_id
                            {
                                pending.release(id);
                            }
                        }
                        JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_) => {}
                    }
                    return Some(message);
                }
                Err(Some(ErrorReply { id, code, message })) => {
                    self.reply_error(id, code, message).await;
                }
                Err(None) => {}
            }
        }
    }

    async fn close(&mut self) -> Result<(), io::Error> {
        drop(self.outbound.take());
        Ok(())
    }
}
