//! The one way into a running node for every front end (the TCP API, the web page, the
//! terminal chat): requests and replies are the local API's JSON objects, events are
//! pushed to every subscriber. A slow subscriber misses events (it is told how many)
//! instead of ever blocking the node.

use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot};

/// Events kept for a subscriber that has not read them yet; past this it lags.
pub const EVENT_BACKLOG: usize = 1024;

/// One request with the place its reply goes.
#[derive(Debug)]
pub struct Call {
    pub request: Value,
    pub reply: oneshot::Sender<Value>,
}

/// A cloneable handle on a node's API.
#[derive(Clone, Debug)]
pub struct ApiHandle {
    calls: mpsc::Sender<Call>,
    events: broadcast::Sender<Value>,
}

impl ApiHandle {
    /// A handle and the receiving end the node serves calls from.
    pub fn new(queue: usize) -> (ApiHandle, mpsc::Receiver<Call>) {
        let (calls, rx) = mpsc::channel(queue.max(1));
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        (ApiHandle { calls, events }, rx)
    }

    /// Send one request (a JSON object as on the TCP API) and wait for its reply.
    pub async fn call(&self, request: Value) -> Value {
        let (reply, rx) = oneshot::channel();
        if self.calls.send(Call { request, reply }).await.is_err() {
            return json!({"ok": false, "error": "the node has stopped"});
        }
        rx.await
            .unwrap_or_else(|_| json!({"ok": false, "error": "the node has stopped"}))
    }

    /// Events from now on (`{"event": …}` objects).
    pub fn subscribe(&self) -> broadcast::Receiver<Value> {
        self.events.subscribe()
    }

    /// Push an event to every subscriber (none listening is fine).
    pub fn publish(&self, event: Value) {
        let _ = self.events.send(event);
    }
}
