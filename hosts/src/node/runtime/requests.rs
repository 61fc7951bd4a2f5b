//! The node's answers to API requests: who it is, its peers and channels, history, and
//! sending (peers named by fingerprint, prefix or announced name).

use airswarm_core::crypto::{ChannelKey, Fingerprint};
use airswarm_core::nodeapi::{JoinKey, Request, Target};
use airswarm_core::time::Instant;
use anyhow::Result;
use serde_json::{Value, json};

use super::{ChannelSlot, Outgoing, Runtime, err, ok, unix_ms};
use crate::node::store::{Conversation, StoredMessage};
use airswarm_core::mesh::SendOutcome;

impl Runtime {
    pub(super) fn join(&mut self, id: &Option<Value>, channel: &str, key: ChannelKey) -> Value {
        if self.channels.iter().any(|c| c.name == channel && !c.left) {
            return err(id, format!("already in channel {channel}"));
        }
        let index = match self.node.join_channel(&key) {
            Ok(i) => usize::from(i),
            Err(e) => return err(id, e),
        };
        if index < self.channels.len() {
            let existing = &self.channels[index];
            if !existing.left {
                return err(id, format!("that key is channel {} already", existing.name));
            }
        }
        if let Err(e) = self.store.add_channel(channel, &key) {
            return err(id, format!("cannot save the channel: {e:#}"));
        }
        self.bridge.start_if(channel, &key, self.node.identity());
        let slot = ChannelSlot {
            name: channel.to_string(),
            left: false,
        };
        if index < self.channels.len() {
            self.channels[index] = slot;
        } else {
            self.channels.push(slot);
        }
        ok(id, json!({"channel": channel}))
    }

    pub(super) fn resolve_peer(&self, who: &str) -> Result<Fingerprint, String> {
        let who_lower = who.to_ascii_lowercase();
        let ring = self.node.keyring();
        let by_hex: Vec<Fingerprint> =
            if who.len() >= 8 && who.chars().all(|c| c.is_ascii_hexdigit()) {
                ring.iter()
                    .map(|k| k.fingerprint())
                    .filter(|f| f.to_hex().starts_with(&who_lower))
                    .collect()
            } else {
                Vec::new()
            };
        let by_name: Vec<Fingerprint> = self
            .names
            .iter()
            .filter(|(f, n)| n.as_str() == who && ring.by_fingerprint(f).is_some())
            .map(|(f, _)| *f)
            .collect();
        match (by_hex.as_slice(), by_name.as_slice()) {
            ([fp], _) => Ok(*fp),
            ([], [fp]) => Ok(*fp),
            ([], []) => Err(format!(
                "no known peer is called or has a fingerprint starting with \"{who}\" (see \"peers\")"
            )),
            (many, []) | ([], many) => Err(format!(
                "\"{who}\" names {} peers; use the full fingerprint: {}",
                many.len(),
                many.iter()
                    .map(|f| f.to_hex())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => Err(format!("\"{who}\" is ambiguous; use the full fingerprint")),
        }
    }

    pub(super) fn execute(&mut self, id: &Option<Value>, request: Request) -> Result<Value> {
        let now = self.clock.now();
        Ok(match request {
            Request::Id => ok(
                id,
                json!({
                    "fingerprint": self.node.identity().fingerprint().to_hex(),
                    "address": format!("{:08x}", self.node.address().0),
                    "name": self.settings.name,
                    "radio": self.radio_description,
                }),
            ),
            Request::Peers => {
                let peers: Vec<Value> = self
                    .node
                    .keyring()
                    .iter()
                    .map(|k| self.peer_json(&k.fingerprint(), now))
                    .collect();
                ok(id, json!({ "peers": peers }))
            }
            Request::Channels => {
                let list: Vec<Value> = self
                    .channels
                    .iter()
                    .filter(|c| !c.left)
                    .map(|c| json!({"name": c.name}))
                    .collect();
                ok(id, json!({ "channels": list }))
            }
            Request::Stats => {
                let s = self.node.stats();
                ok(
                    id,
                    json!({
                        "frames_in": self.frames_in,
                        "frames_out": self.frames_out,
                        "radio_backlog": self.backlog.len(),
                        "in_flight": self.in_flight.len() + self.awaiting.len(),
                        "stats": format!("{s:?}"),
                    }),
                )
            }
            Request::Bridges => ok(id, self.bridge.json()),
            Request::Join {
                channel,
                key: JoinKey::Key(key),
            } => self.join(id, &channel, key),
            Request::Join { .. } => err(id, "internal: passphrase joins are handled apart"),
            Request::Leave { channel } => {
                let Some(slot) = self
                    .channels
                    .iter_mut()
                    .find(|c| c.name == channel && !c.left)
                else {
                    return Ok(err(id, format!("not in channel {channel}")));
                };
                slot.left = true;
                self.store.remove_channel(&channel)?;
                ok(id, json!({"channel": channel}))
            }
            Request::History { limit, with } => {
                let conv = match with {
                    None => None,
                    Some(Target::Channel(c)) => Some(Conversation::Channel(c)),
                    Some(Target::Peer(p)) => match self.resolve_peer(&p) {
                        Ok(fp) => Some(Conversation::Peer(fp)),
                        Err(e) => return Ok(err(id, e)),
                    },
                };
                let messages: Vec<Value> = self
                    .store
                    .history(limit, conv.as_ref())?
                    .into_iter()
                    .map(|m| {
                        json!({
                            "msg_id": m.msg_id, "direction": m.direction,
                            "peer": m.peer.map(|f| f.to_hex()), "address": m.address, "name": m.name,
                            "channel": m.channel, "text": m.text, "sealed": m.sealed,
                            "status": m.status, "reason": m.reason, "at_ms": m.at_ms,
                        })
                    })
                    .collect();
                ok(id, json!({ "messages": messages }))
            }
            Request::Send { target, text } => self.send(id, now, target, text)?,
            Request::Share {
                path,
                channel,
                name,
            } => self.share(id, now, &path, channel, name)?,
            Request::Files => self.files_json(id)?,
            Request::Fetch { file } => self.fetch(id, now, file)?,
            other => err(id, format!("{other:?} is not served by this node")),
        })
    }

    pub(super) fn send(
        &mut self,
        id: &Option<Value>,
        now: Instant,
        target: Target,
        text: String,
    ) -> Result<Value> {
        match target {
            Target::Channel(name) => {
                let Some(index) = self.channels.iter().position(|c| c.name == name && !c.left)
                else {
                    return Ok(err(id, format!("not in channel {name} (join it first)")));
                };
                let sent = self.node.send_on_channel(now, index as u8, text.as_bytes());
                if let Err(e) = sent {
                    return Ok(err(id, e));
                }
                let msg_id = self.store.add_message(&StoredMessage {
                    msg_id: 0,
                    direction: "out".into(),
                    peer: None,
                    address: None,
                    name: self.settings.name.clone(),
                    channel: Some(name.clone()),
                    text: text.clone(),
                    sealed: "channel".into(),
                    status: "sent".into(),
                    reason: None,
                    at_ms: unix_ms(now),
                })?;
                self.api.publish(json!({"event": "sent", "msg_id": msg_id, "to": null, "channel": name, "text": text}));
                Ok(ok(id, json!({ "msg_id": msg_id })))
            }
            Target::Peer(who) => {
                let fp = match self.resolve_peer(&who) {
                    Ok(fp) => fp,
                    Err(e) => return Ok(err(id, e)),
                };
                let outcome = match self.node.send_to(now, fp, text.as_bytes()) {
                    Ok(o) => o,
                    Err(e) => return Ok(err(id, e)),
                };
                let msg_id = self.store.add_message(&StoredMessage {
                    msg_id: 0,
                    direction: "out".into(),
                    peer: Some(fp),
                    address: None,
                    name: self.name_of(&fp),
                    channel: None,
                    text: text.clone(),
                    sealed: "session".into(),
                    status: "sent".into(),
                    reason: None,
                    at_ms: unix_ms(now),
                })?;
                let o = Outgoing { msg_id, peer: fp };
                match outcome {
                    SendOutcome::Sent(mesh_id) => {
                        self.in_flight.insert(mesh_id, o);
                    }
                    SendOutcome::AwaitingSession { ticket } => {
                        self.awaiting.insert(ticket, o);
                    }
                }
                self.api.publish(json!({"event": "sent", "msg_id": msg_id, "to": fp.to_hex(), "channel": null, "text": text}));
                Ok(ok(id, json!({ "msg_id": msg_id })))
            }
        }
    }
}
