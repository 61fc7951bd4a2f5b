//! Announce tokens (BEP 5): a `get_peers` answer carries a token that the asker must
//! present in `announce_peer`, proving it owns the IP it announces from. The token is the
//! SHA-1 of the requester's IP address and a secret that changes every five minutes;
//! tokens made with the current or the previous secret are accepted, so a token is good
//! for five to ten minutes ("tokens up to ten minutes old are accepted", BEP 5).

use std::net::IpAddr;

use sha1::{Digest, Sha1};

use crate::rng::Rng;
use crate::time::{Duration, Instant};

/// How often the secret changes (BEP 5: "every five minutes").
pub const ROTATE_EVERY: Duration = Duration::from_secs(5 * 60);
/// Bytes of the SHA-1 we hand out: enough that guessing is hopeless, short on the wire.
pub const TOKEN_LEN: usize = 8;

#[derive(Clone, Debug)]
pub struct Tokens {
    current: [u8; 16],
    previous: [u8; 16],
    rotated: Instant,
}

fn make(secret: &[u8; 16], ip: IpAddr) -> [u8; TOKEN_LEN] {
    let mut h = Sha1::new();
    match ip {
        IpAddr::V4(v4) => h.update(v4.octets()),
        IpAddr::V6(v6) => h.update(v6.octets()),
    }
    h.update(secret);
    let d: [u8; 20] = h.finalize().into();
    d[..TOKEN_LEN].try_into().expect("prefix")
}

impl Tokens {
    pub fn new(now: Instant, rng: &mut Rng) -> Tokens {
        let mut t = Tokens {
            current: [0; 16],
            previous: [0; 16],
            rotated: now,
        };
        rng.fill_bytes(&mut t.current);
        rng.fill_bytes(&mut t.previous);
        t
    }

    /// Rotate the secret if it is due; returns when the next rotation is due.
    pub fn tick(&mut self, now: Instant, rng: &mut Rng) -> Instant {
        if now.saturating_since(self.rotated) >= ROTATE_EVERY {
            self.previous = self.current;
            rng.fill_bytes(&mut self.current);
            self.rotated = now;
        }
        self.rotated + ROTATE_EVERY
    }

    /// The token for a requester at `ip`.
    pub fn issue(&self, ip: IpAddr) -> Vec<u8> {
        make(&self.current, ip).to_vec()
    }

    /// Whether `token` was issued to `ip` under the current or previous secret.
    pub fn check(&self, ip: IpAddr, token: &[u8]) -> bool {
        token == make(&self.current, ip) || token == make(&self.previous, ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_ip_and_expire_after_two_rotations() {
        let mut rng = Rng::new(3);
        let mut t = Tokens::new(Instant(0), &mut rng);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let tok = t.issue(a);
        assert!(t.check(a, &tok));
        assert!(!t.check(b, &tok));
        assert!(!t.check(a, &tok[..4]));
        // Not yet due: nothing changes.
        assert_eq!(t.tick(Instant(1000), &mut rng), Instant(0) + ROTATE_EVERY);
        t.tick(Instant(0) + ROTATE_EVERY, &mut rng);
        assert!(t.check(a, &tok), "the previous secret is still accepted");
        assert_ne!(t.issue(a), tok);
        t.tick(Instant(0) + ROTATE_EVERY + ROTATE_EVERY, &mut rng);
        assert!(
            !t.check(a, &tok),
            "two rotations later the token is refused"
        );
    }
}
