//! Handshakes of the secure node: starting them, answering them (within rate limits),
//! completing them, and installing and flushing the sessions they set up.

use super::{
    ANSWER_INTERVAL, ANSWERS_PER_MINUTE, HANDSHAKE_TIMEOUT, MAX_HELD_INITS, MAX_SESSIONS,
    PeerSession, REHANDSHAKE_INTERVAL, SecureError, SecureEvent, SecureNode,
};
use crate::crypto::{CryptoError, Fingerprint, HandshakeInit, PublicIdentity, Session, handshake};
use crate::mesh::wire::{Address, Content};
use crate::time::{Duration, Instant};

impl SecureNode {
    pub(super) fn start_handshake(
        &mut self,
        now: Instant,
        peer: &PublicIdentity,
    ) -> Result<(), SecureError> {
        // The handshake counter is the node's message counter: it only increases, across
        // reboots too (the host persists it), so a replayed init is always stale.
        let counter = self.node.next_counter()?;
        let (pending, init) = handshake::initiate(&self.identity, peer, counter, &mut self.rng)?;
        self.node
            .send_content(now, peer.address(), Content::HandshakeInit, &init)?;
        let fp = peer.fingerprint();
        self.pending.insert(fp, pending);
        let tries = self.handshake_due.get(&fp).map_or(0, |&(_, n)| n);
        self.handshake_due
            .insert(fp, (now + HANDSHAKE_TIMEOUT, tries.saturating_add(1)));
        Ok(())
    }

    /// A peer sealed a message we cannot open (it rebooted, or dropped or replaced the
    /// session we have): set up a new session with it, so its next messages open. Only
    /// for an address exactly one key claims, at most once a [`REHANDSHAKE_INTERVAL`],
    /// and a forged frame can make us spend at most that.
    pub(super) fn rehandshake(&mut self, now: Instant, src: Address) {
        let [fp] = self.keyring.fingerprints_at(src) else {
            return;
        };
        let fp = *fp;
        if self.pending.contains_key(&fp)
            || self
                .rehandshaked
                .get(&fp)
                .is_some_and(|&t| now.saturating_since(t) < REHANDSHAKE_INTERVAL)
        {
            return;
        }
        self.rehandshaked.insert(fp, now);
        if self.rehandshaked.len() > MAX_SESSIONS {
            // Bounded: forget the stalest entry.
            if let Some(old) = self
                .rehandshaked
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(f, _)| *f)
            {
                self.rehandshaked.remove(&old);
            }
        }
        if let Some(key) = self.keyring.by_fingerprint(&fp).cloned()
            && let Err(e) = self.start_handshake(now, &key)
        {
            self.reject(src, format!("cannot start a new handshake: {e}"));
        }
    }

    pub(super) fn on_handshake_init(&mut self, now: Instant, src: Address, id: u32, msg: &[u8]) {
        let keys: Vec<PublicIdentity> = self.keyring.claimants(src).cloned().collect();
        if keys.is_empty() {
            // Keep it until the sender's announcement arrives (bounded; the newest init
            // from a sender replaces an older one).
            self.held_inits.retain(|(a, _, _)| *a != src);
            if self.held_inits.len() >= MAX_HELD_INITS {
                self.held_inits.pop_front();
            }
            self.held_inits.push_back((src, id, msg.to_vec()));
            self.node.accept(now, src, id);
            return self.reject(
                src,
                format!(
                    "{}; the handshake is held until its key is pinned",
                    CryptoError::UnknownPeer(src.to_string())
                ),
            );
        }
        // Usually one key; with colliding keys, the one whose signature verifies.
        let mut last_error = CryptoError::BadSignature;
        for peer in keys {
            let fp = peer.fingerprint();
            if self.pending.contains_key(&fp)
                && (self.address(), self.identity.fingerprint()) < (src, fp)
            {
                // Both ends opened at once: the init from the lower (address,
                // fingerprint) wins, so both end up in the same session. The peer
                // answers ours and drops its own; we took this one in (no retries).
                self.node.accept(now, src, id);
                return;
            }
            if let Some(why) = self.answer_limited(now, &fp) {
                return self.reject(src, format!("handshake not answered: {why}"));
            }
            let last = self.last_init.get(&fp).copied();
            let my_counter = match self.node.next_counter() {
                Ok(c) => c,
                Err(e) => return self.reject(src, format!("cannot answer handshake: {e}")),
            };
            match HandshakeInit::respond(
                &self.identity,
                &peer,
                msg,
                last,
                my_counter,
                &mut self.rng,
            ) {
                Ok(init) => {
                    let counter = init.counter;
                    let (session, reply) = init.into_parts();
                    if let Err(e) =
                        self.node
                            .send_content(now, src, Content::HandshakeReply, &reply)
                    {
                        return self.reject(src, format!("cannot answer handshake: {e}"));
                    }
                    self.last_init.insert(fp, counter);
                    self.answered.insert(fp, now);
                    self.answers.push_back(now);
                    self.node.accept(now, src, id);
                    self.install(fp, src, session);
                    // A simultaneous open from a lower address: our own pending handshake
                    // yields to theirs, so both ends use one session.
                    self.abandon_handshake(&fp);
                    self.flush(now, fp);
                    return;
                }
                Err(CryptoError::BadSignature) => last_error = CryptoError::BadSignature,
                Err(e) => return self.reject(src, format!("handshake: {e}")),
            }
        }
        self.reject(src, format!("handshake: {last_error}"));
    }

    /// Why an init from `peer` must not be answered now, if it must not: the per-peer
    /// and overall limits on the RSA work unauthenticated-until-verified inits cost.
    pub(super) fn answer_limited(
        &mut self,
        now: Instant,
        peer: &Fingerprint,
    ) -> Option<&'static str> {
        let minute = Duration::from_secs(60);
        while self
            .answers
            .front()
            .is_some_and(|&t| now.saturating_since(t) >= minute)
        {
            self.answers.pop_front();
        }
        if self
            .answered
            .get(peer)
            .is_some_and(|&t| now.saturating_since(t) < ANSWER_INTERVAL)
        {
            return Some("this peer was answered less than 10 s ago");
        }
        if self.answers.len() >= ANSWERS_PER_MINUTE {
            return Some("20 handshakes were answered in the last minute");
        }
        if self.answered.len() > MAX_SESSIONS {
            self.answered
                .retain(|_, t| now.saturating_since(*t) < ANSWER_INTERVAL);
        }
        None
    }

    pub(super) fn on_handshake_reply(&mut self, now: Instant, src: Address, id: u32, msg: &[u8]) {
        let candidates: Vec<Fingerprint> = self
            .pending
            .iter()
            .filter(|(_, p)| p.peer().address() == src)
            .map(|(fp, _)| *fp)
            .collect();
        if candidates.is_empty() {
            return self.reject(src, "handshake reply without a handshake in progress");
        }
        // Verify before touching any state: a forged or garbled reply must not abort the
        // handshake it pretends to answer.
        let mut last_error = None;
        for fp in candidates {
            match self.pending[&fp].complete(&self.identity, msg) {
                Ok(session) => {
                    self.node.accept(now, src, id);
                    self.pending.remove(&fp);
                    let early = self.early_sealed.remove(&fp).unwrap_or_default();
                    self.install(fp, src, session);
                    for m in early {
                        self.on_message(now, m);
                    }
                    self.flush(now, fp);
                    return;
                }
                Err(e) => last_error = Some(e),
            }
        }
        if let Some(e) = last_error {
            self.reject(src, format!("handshake reply refused: {e}"));
        }
    }

    pub(super) fn install(&mut self, peer: Fingerprint, address: Address, mut session: Session) {
        if self.rekey_after > 0 {
            session.set_rekey_after(self.rekey_after);
        }
        match self.sessions.get_mut(&peer) {
            Some(p) => {
                // Keep the old keys until the peer uses the new ones.
                p.previous = Some(std::mem::replace(&mut p.current, session));
                p.address = address;
            }
            None => {
                if self.session_order.len() >= self.max_sessions
                    && let Some(old) = self.session_order.pop_front()
                {
                    self.sessions.remove(&old);
                }
                self.session_order.push_back(peer);
                self.sessions.insert(
                    peer,
                    PeerSession {
                        address,
                        current: session,
                        previous: None,
                    },
                );
            }
        }
        self.handshake_due.remove(&peer);
        self.events.push_back(SecureEvent::SessionEstablished {
            peer: address,
            fingerprint: peer,
        });
    }

    pub(super) fn flush(&mut self, now: Instant, peer: Fingerprint) {
        let queued = self.waiting.remove(&peer).unwrap_or_default();
        let Some(dst) = self.sessions.get(&peer).map(|p| p.address) else {
            return;
        };
        for (ticket, payload) in queued {
            match self.send_in_session(now, peer, &payload) {
                Ok(id) => self.events.push_back(SecureEvent::Sent { dst, ticket, id }),
                Err(e) => self.reject(dst, format!("queued message could not be sent: {e}")),
            }
        }
    }
}
