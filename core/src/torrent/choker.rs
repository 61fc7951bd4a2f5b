//! Choking (BEP 3, "tit-for-tat"): every round unchoke the interested peers that gave us
//! the most (or, when seeding, took the most), plus one optimistic unchoke chosen at random
//! and kept for several rounds so new peers get a chance to prove themselves.
//!
//! The host calls [`Choker::rechoke`] every [`ROUND`] with each peer's rate over the last
//! round (and when a peer's interest changes, without rotating the optimistic slot).

use super::picker::PeerKey;
use crate::rng::Rng;
use crate::time::Duration;

/// BEP 3 / the mainline client: rechoke every ten seconds.
pub const ROUND: Duration = Duration(10_000);
/// The optimistic unchoke moves every third round (30 s, as in the mainline client).
pub const OPTIMISTIC_ROUNDS: u32 = 3;
/// Regular upload slots (the mainline client's default of four).
pub const DEFAULT_SLOTS: usize = 4;

/// What the choker needs to know about one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChokeCandidate {
    pub key: PeerKey,
    pub interested: bool,
    /// Bytes over the last round: received from it while downloading, sent to it while
    /// seeding.
    pub rate: u64,
    /// It sent nothing for a long time despite our requests: never a regular slot.
    pub snubbed: bool,
}

/// The choking policy's state.
#[derive(Debug)]
pub struct Choker {
    slots: usize,
    optimistic: Option<PeerKey>,
    rounds: u32,
    rng: Rng,
}

impl Choker {
    pub fn new(slots: usize, seed: u64) -> Choker {
        Choker {
            slots: slots.max(1),
            optimistic: None,
            rounds: 0,
            rng: Rng::new(seed),
        }
    }

    pub fn optimistic(&self) -> Option<PeerKey> {
        self.optimistic
    }

    /// The peers to leave unchoked (sorted); everyone else is choked. `round` is true on
    /// the timer, false for an out-of-round update (a peer became interested or left).
    pub fn rechoke(&mut self, peers: &[ChokeCandidate], round: bool) -> Vec<PeerKey> {
        let mut ranked: Vec<&ChokeCandidate> = peers
            .iter()
            .filter(|p| p.interested && !p.snubbed)
            .collect();
        // Highest rate first; ties by key so the result is deterministic.
        ranked.sort_by(|a, b| b.rate.cmp(&a.rate).then(a.key.cmp(&b.key)));
        let mut out: Vec<PeerKey> = ranked.iter().take(self.slots).map(|p| p.key).collect();
        if round {
            self.rounds += 1;
        }
        let still_there = self
            .optimistic
            .is_some_and(|o| peers.iter().any(|p| p.key == o && p.interested));
        let rotate = !still_there || (round && self.rounds.is_multiple_of(OPTIMISTIC_ROUNDS));
        if rotate {
            let choked: Vec<PeerKey> = peers
                .iter()
                .filter(|p| p.interested && !out.contains(&p.key))
                .map(|p| p.key)
                .collect();
            self.optimistic =
                (!choked.is_empty()).then(|| choked[self.rng.below(choked.len() as u64) as usize]);
        }
        if let Some(o) = self.optimistic
            && !out.contains(&o)
        {
            out.push(o);
        }
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn peer(key: PeerKey, interested: bool, rate: u64) -> ChokeCandidate {
        ChokeCandidate {
            key,
            interested,
            rate,
            snubbed: false,
        }
    }

    #[test]
    fn fastest_interested_peers_win_plus_one_optimistic() {
        let mut c = Choker::new(2, 1);
        let peers = [
            peer(1, true, 10),
            peer(2, true, 50),
            peer(3, false, 99),
            peer(4, true, 30),
            peer(5, true, 0),
        ];
        let out = c.rechoke(&peers, true);
        assert_eq!(out.len(), 3);
        assert!(out.contains(&2) && out.contains(&4), "{out:?}");
        assert!(!out.contains(&3));
        let o = c.optimistic().unwrap();
        assert!(o == 1 || o == 5);
        // Out-of-round updates keep the optimistic peer.
        assert_eq!(c.rechoke(&peers, false), out);
    }

    #[test]
    fn optimistic_slot_rotates_every_third_round_and_reaches_everyone() {
        let mut c = Choker::new(1, 7);
        let mut peers: Vec<ChokeCandidate> = (0..6).map(|k| peer(k, true, 0)).collect();
        peers[0].rate = 100;
        let mut seen = std::collections::BTreeSet::new();
        let mut last = None;
        for r in 1..=300 {
            c.rechoke(&peers, true);
            if r % OPTIMISTIC_ROUNDS != 0 {
                assert!(last.is_none() || c.optimistic() == last || r == 1);
            }
            last = c.optimistic();
            seen.insert(c.optimistic().unwrap());
        }
        assert_eq!(seen, (1..6).collect());
    }

    #[test]
    fn snubbed_peers_get_no_regular_slot() {
        let mut c = Choker::new(1, 1);
        let mut fast = peer(1, true, 1000);
        fast.snubbed = true;
        let out = c.rechoke(&[fast, peer(2, true, 1)], true);
        assert!(out.contains(&2));
    }

    proptest! {
        #[test]
        fn at_most_slots_plus_one_and_only_interested(
            slots in 1usize..6,
            peers in proptest::collection::vec((any::<bool>(), 0u64..100, any::<bool>()), 0..20),
            seed in any::<u64>(),
        ) {
            let mut c = Choker::new(slots, seed);
            let cands: Vec<ChokeCandidate> = peers
                .iter()
                .enumerate()
                .map(|(i, &(interested, rate, snubbed))| ChokeCandidate { key: i as u32, interested, rate, snubbed })
                .collect();
            for round in [true, false, true] {
                let out = c.rechoke(&cands, round);
                prop_assert!(out.len() <= slots + 1);
                for k in &out {
                    prop_assert!(cands[*k as usize].interested);
                }
            }
        }
    }
}
