//! Which trackers to announce to, and in what order: the announce-list tiers of BEP 12 with
//! a per-tracker failure backoff. Sans-IO: the host asks [`Tiers::due`] which URLs to try
//! at `now`, does the HTTP or UDP exchange itself, and reports each outcome back with
//! [`Tiers::answered`] or [`Tiers::failed`].
//!
//! BEP 12 (<https://www.bittorrent.org/beps/bep_0012.html>): "The tiers of announces will
//! be processed sequentially; all URLs in each tier must be checked before the client goes
//! on to the next tier. URLs within each tier will be processed in a randomly chosen order;
//! in other words, the list will be shuffled when first read, and then parsed in order. In
//! addition, if a connection with a tracker is successful, it will be moved to the front of
//! the tier."

use crate::rng::Rng;
use crate::time::{Duration, Instant};

/// The backoff after the first failure is twice this; each further failure in a row
/// doubles it, up to [`BACKOFF_MAX`]. See [`backoff`].
pub const BACKOFF_BASE: Duration = Duration::from_secs(2);

/// The longest a failed tracker is left alone: 5 minutes.
///
/// libtorrent's figure for comparison (`announce_infohash::failed` in
/// src/announce_entry.cpp): `5 s + fails² × 5 s × tracker_backoff / 100`, with the default
/// `tracker_backoff` of 250 %, i.e. 17 s, 55 s, 117 s, … after 1, 2, 3 failures, capped at
/// 60 minutes. Ours comes back sooner (4 s, 8 s, 16 s, …, 5 min): a swarm on a LAN or a
/// private tracker that restarts should not wait long, and the skip is what matters — a
/// dead tracker in the first tier would otherwise cost every announce its full timeout
/// before the working tier is reached.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// How long a tracker that has failed `fails` times in a row is left alone:
/// `BACKOFF_BASE · 2^fails`, capped at [`BACKOFF_MAX`] — 4 s after one failure, then 8 s,
/// 16 s, … 256 s, then 5 min for every failure after the seventh.
pub fn backoff(fails: u32) -> Duration {
    let factor = 1u64 << fails.min(32);
    Duration(
        BACKOFF_BASE
            .as_millis()
            .saturating_mul(factor)
            .min(BACKOFF_MAX.as_millis()),
    )
}

/// One tracker of the announce list, with its own failure backoff.
#[derive(Clone, Debug)]
struct Tracker {
    url: String,
    /// Failed announces since it last answered.
    fails: u32,
    /// Not asked again before this (after a failure).
    retry_at: Instant,
}

impl Tracker {
    fn new(url: String) -> Tracker {
        Tracker {
            url,
            fails: 0,
            retry_at: Instant::ZERO,
        }
    }
}

/// BEP 12 tiers: try each tracker of a tier in order, and promote the one that answers.
///
/// A tracker that fails (refuses, answers garbage, or says nothing within the timeout) is
/// skipped by later rounds until its own backoff ([`backoff`]) has passed, as libtorrent
/// does: a dead tracker in the first tier would otherwise cost every announce its full
/// timeout before the working tier is reached (15 s by default in the hosts, per dead
/// tracker, per round, and again for the last `stopped` announce).
#[derive(Clone, Debug)]
pub struct Tiers {
    tiers: Vec<Vec<Tracker>>,
}

impl Tiers {
    /// The announce list `tiers` (as in the metainfo: a list of tiers, each a list of URLs),
    /// with the trackers within each tier shuffled by `seed` (BEP 12: "shuffled when first
    /// read", so that clients spread their load over a tier's trackers). Tiers keep their
    /// order; a given seed always gives the same order.
    ///
    /// A URL listed more than once is kept only where it first appears: asking the same
    /// tracker twice in one round would only double its load, and its backoff is one.
    pub fn new(tiers: Vec<Vec<String>>, seed: u64) -> Tiers {
        let mut rng = Rng::new(seed);
        let mut t = Tiers::in_order(tiers);
        for tier in &mut t.tiers {
            // Fisher-Yates.
            for i in (1..tier.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                tier.swap(i, j);
            }
        }
        t
    }

    /// [`Tiers::new`] without the shuffle: each tier in the order given.
    pub fn in_order(tiers: Vec<Vec<String>>) -> Tiers {
        let mut seen = std::collections::BTreeSet::new();
        let tiers = tiers
            .into_iter()
            .map(|tier| {
                tier.into_iter()
                    .filter(|url| seen.insert(url.clone()))
                    .map(Tracker::new)
                    .collect()
            })
            .collect();
        Tiers { tiers }
    }

    /// No tracker at all.
    pub fn is_empty(&self) -> bool {
        self.tiers.iter().all(Vec::is_empty)
    }

    /// The URLs, tier by tier, in the order they are tried.
    pub fn tiers(&self) -> Vec<Vec<&str>> {
        self.tiers
            .iter()
            .map(|tier| tier.iter().map(|t| t.url.as_str()).collect())
            .collect()
    }

    /// The trackers to try at `now`, in BEP 12 order (tier by tier, each tier in its
    /// order), leaving out those still backing off after a failure.
    pub fn due(&self, now: Instant) -> Vec<String> {
        self.tiers
            .iter()
            .flatten()
            .filter(|t| t.retry_at <= now)
            .map(|t| t.url.clone())
            .collect()
    }

    /// `url` answered: it is tried first in its tier from now on (BEP 12) and its
    /// failures are forgotten. Other tiers are not touched; an unknown URL is ignored.
    pub fn answered(&mut self, url: &str) {
        for tier in &mut self.tiers {
            if let Some(i) = tier.iter().position(|t| t.url == url) {
                let mut t = tier.remove(i);
                t.fails = 0;
                t.retry_at = Instant::ZERO;
                tier.insert(0, t);
                return;
            }
        }
    }

    /// `url` failed at `now`: later rounds skip it until its backoff has passed. An
    /// unknown URL is ignored.
    pub fn failed(&mut self, url: &str, now: Instant) {
        if let Some(t) = self.tiers.iter_mut().flatten().find(|t| t.url == url) {
            t.fails = t.fails.saturating_add(1);
            t.retry_at = now + backoff(t.fails);
        }
    }

    /// After a round in which no tracker answered: how long until one may be asked again
    /// (the soonest backoff to end; at least 1 s).
    pub fn retry_in(&self, now: Instant) -> Duration {
        let soonest = self
            .tiers
            .iter()
            .flatten()
            .map(|t| t.retry_at.saturating_since(now))
            .min()
            .unwrap_or(Duration::ZERO);
        soonest.max(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn list(tiers: &[&[&str]]) -> Tiers {
        // Unshuffled: the order is what is tested.
        Tiers::in_order(
            tiers
                .iter()
                .map(|tier| tier.iter().map(|u| (*u).to_owned()).collect())
                .collect(),
        )
    }

    #[test]
    fn the_backoff_doubles_from_4_s_and_stops_at_5_min() {
        let steps: Vec<u64> = (1..=10).map(|f| backoff(f).as_millis() / 1000).collect();
        assert_eq!(steps, [4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(backoff(0), BACKOFF_BASE);
        assert_eq!(backoff(63), BACKOFF_MAX);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn a_tracker_that_failed_is_skipped_until_its_backoff_ends() {
        // The test torrent's list: junk, silent, then the working tracker, one per tier.
        let mut t = list(&[&["junk"], &["silent"], &["good"]]);
        let t0 = Instant(10_000);
        assert_eq!(t.due(t0), ["junk", "silent", "good"]);
        t.failed("junk", t0);
        t.failed("silent", t0 + secs(2));
        t.answered("good");
        // The next round (the working tracker asked again 2 s later: no peers yet) does
        // not wait out the silent one's timeout again: it is backing off.
        let next = t0 + secs(3);
        assert_eq!(t.due(next), ["good"]);
        // Each comes back once its own backoff (4 s after one failure) has passed, not a
        // millisecond before.
        assert_eq!(t.due(t0 + Duration(3_999)), ["good"]);
        assert_eq!(t.due(t0 + secs(4)), ["junk", "good"]);
        assert_eq!(t.due(t0 + Duration(5_999)), ["junk", "good"]);
        assert_eq!(t.due(t0 + secs(6)), ["junk", "silent", "good"]);
        // The tier order is kept: the tracker that answered does not jump the tiers.
        assert_eq!(t.tiers(), [["junk"], ["silent"], ["good"]]);
    }

    #[test]
    fn each_failure_in_a_row_doubles_the_wait_up_to_5_min() {
        let mut t = list(&[&["dead"], &["good"]]);
        let mut now = Instant(1_000);
        for (n, wait) in [4u64, 8, 16, 32, 64, 128, 256, 300, 300, 300]
            .into_iter()
            .enumerate()
        {
            t.failed("dead", now);
            let back = now + secs(wait);
            assert_eq!(
                t.due(Instant(back.0 - 1)),
                ["good"],
                "failure {}: still backing off 1 ms before {wait} s",
                n + 1
            );
            assert_eq!(t.due(back), ["dead", "good"], "failure {}", n + 1);
            // Asked again as soon as it is due, and it fails again.
            now = back;
        }
    }

    #[test]
    fn a_tracker_that_answers_again_is_forgiven_and_promoted_within_its_tier_only() {
        let mut t = list(&[&["a1", "a2", "a3"], &["b1", "b2"]]);
        let now = Instant(0);
        t.failed("a1", now);
        t.failed("a2", now);
        t.failed("a2", now);
        t.answered("a2");
        assert_eq!(t.tiers(), [vec!["a2", "a1", "a3"], vec!["b1", "b2"]]);
        // a2's failures are forgotten; a1 still backs off.
        assert_eq!(t.due(now), ["a2", "a3", "b1", "b2"]);
        // One failure since it answered: the first step of the backoff (4 s), not the
        // third.
        t.failed("a2", now);
        assert_eq!(t.due(now + Duration(3_999)), ["a3", "b1", "b2"]);
        assert_eq!(t.due(now + secs(4)), ["a2", "a1", "a3", "b1", "b2"]);
        // An answer from a lower tier moves it to the front of that tier, never above a
        // higher tier (BEP 12).
        t.answered("b2");
        assert_eq!(t.tiers(), [vec!["a2", "a1", "a3"], vec!["b2", "b1"]]);
        assert_eq!(t.due(now + secs(4)), ["a2", "a1", "a3", "b2", "b1"]);
        // Unknown URLs change nothing.
        t.answered("zz");
        t.failed("zz", now);
        assert_eq!(t.tiers(), [vec!["a2", "a1", "a3"], vec!["b2", "b1"]]);
    }

    #[test]
    fn when_every_tracker_is_backing_off_the_wait_is_until_the_first_is_due() {
        let mut t = list(&[&["x"], &["y"]]);
        let now = Instant(50_000);
        t.failed("x", now);
        t.failed("x", now);
        t.failed("x", now);
        t.failed("y", now);
        assert!(t.due(now).is_empty());
        assert_eq!(t.retry_in(now), secs(4));
        assert_eq!(t.retry_in(now + secs(1)), secs(3));
        assert_eq!(t.due(now + t.retry_in(now)), ["y"]);
        // Never less than a second, even when one is already due.
        assert_eq!(t.retry_in(now + Duration(3_500)), secs(1));
        assert_eq!(t.retry_in(now + secs(60)), secs(1));
        assert_eq!(Tiers::in_order(Vec::new()).retry_in(now), secs(1));
    }

    #[test]
    fn trackers_are_shuffled_within_tiers_only_and_the_same_for_a_seed() {
        let tiers: Vec<Vec<String>> = vec![
            (0..6).map(|i| format!("http://a{i}/")).collect(),
            vec!["udp://b/".into()],
            (0..4).map(|i| format!("http://c{i}/")).collect(),
        ];
        let mut orders = std::collections::BTreeSet::new();
        for seed in 0..32 {
            let t = Tiers::new(tiers.clone(), seed);
            let got = t.tiers();
            assert_eq!(got.len(), 3);
            for (got, orig) in got.iter().zip(&tiers) {
                let (mut a, mut b) = (got.clone(), orig.clone());
                a.sort_unstable();
                b.sort();
                assert_eq!(a, b, "a tier keeps exactly its own trackers");
            }
            assert_eq!(got, Tiers::new(tiers.clone(), seed).tiers(), "seed {seed}");
            orders.insert(got.concat().join(" "));
        }
        assert!(
            orders.len() > 16,
            "seeds give different orders: {}",
            orders.len()
        );
    }

    #[test]
    fn a_url_listed_twice_is_kept_where_it_first_appears() {
        let t = list(&[&["a", "b", "a"], &["b", "c"], &[]]);
        assert_eq!(t.tiers(), [vec!["a", "b"], vec!["c"], vec![]]);
        assert!(!t.is_empty());
        assert!(list(&[&[], &[]]).is_empty());
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// One call on the schedule, time first moving on by `dt` ms.
    #[derive(Clone, Debug)]
    enum Op {
        Answered { url: usize, dt: u64 },
        Failed { url: usize, dt: u64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        // Steps up to 6 min, so waits cross every backoff step including the cap; URL
        // indices past the pool name trackers that are not in the list.
        let dt = prop_oneof![0u64..5_000, 0u64..360_000];
        prop_oneof![
            (0usize..14, dt.clone()).prop_map(|(url, dt)| Op::Answered { url, dt }),
            (0usize..14, dt).prop_map(|(url, dt)| Op::Failed { url, dt }),
        ]
    }

    fn url(i: usize) -> String {
        format!("udp://t{i}:6969")
    }

    fn owned(t: &Tiers) -> Vec<Vec<String>> {
        t.tiers()
            .into_iter()
            .map(|tier| tier.into_iter().map(str::to_owned).collect())
            .collect()
    }

    proptest! {
        #[test]
        fn no_url_is_lost_or_doubled_and_none_is_due_before_its_backoff_ends(
            // A pool of 12 URLs, so that a list names some twice.
            raw in proptest::collection::vec(proptest::collection::vec(0usize..12, 0..5), 0..5),
            seed in any::<u64>(),
            ops in proptest::collection::vec(op(), 0..60),
        ) {
            let input: Vec<Vec<String>> =
                raw.iter().map(|tier| tier.iter().map(|&i| url(i)).collect()).collect();
            // What each tier must hold: its URLs not already listed in an earlier tier.
            let mut seen = BTreeSet::new();
            let members: Vec<BTreeSet<String>> = input
                .iter()
                .map(|tier| tier.iter().filter(|u| seen.insert((*u).clone())).cloned().collect())
                .collect();
            let mut t = Tiers::new(input.clone(), seed);
            prop_assert_eq!(owned(&t), owned(&Tiers::new(input, seed)));
            // The model: when each failed URL may be asked again, and its failures in a row.
            let mut retry_at: BTreeMap<String, Instant> = BTreeMap::new();
            let mut fails: BTreeMap<String, u32> = BTreeMap::new();
            let mut now = Instant(0);
            for op in ops {
                match op {
                    Op::Answered { url: u, dt } => {
                        now += Duration(dt);
                        let u = url(u);
                        let tier = members.iter().position(|m| m.contains(&u));
                        let before = owned(&t);
                        t.answered(&u);
                        let after = owned(&t);
                        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
                            if Some(i) == tier {
                                // Promoted to the front; the others keep their order.
                                let mut expect = vec![u.clone()];
                                expect.extend(b.iter().filter(|x| **x != u).cloned());
                                prop_assert_eq!(a, &expect);
                            } else {
                                prop_assert_eq!(a, b, "tier {} is not touched", i);
                            }
                        }
                        if tier.is_some() {
                            retry_at.remove(&u);
                            fails.remove(&u);
                        }
                    }
                    Op::Failed { url: u, dt } => {
                        now += Duration(dt);
                        let u = url(u);
                        t.failed(&u, now);
                        if members.iter().any(|m| m.contains(&u)) {
                            let n = fails.entry(u.clone()).or_insert(0);
                            *n += 1;
                            retry_at.insert(u, now + backoff(*n));
                        }
                    }
                }
                // Every URL still there, once, each in its own tier.
                let got = t.tiers();
                prop_assert_eq!(got.len(), members.len());
                for (tier, m) in got.iter().zip(&members) {
                    let set: BTreeSet<String> = tier.iter().map(|s| (*s).to_owned()).collect();
                    prop_assert_eq!(set.len(), tier.len(), "no URL twice in a tier");
                    prop_assert_eq!(&set, m);
                }
                // Due now and a little later: exactly those whose backoff has ended, in
                // tier order.
                for probe in [now, now + Duration(3_999), now + Duration(4_000), now + BACKOFF_MAX] {
                    let due = t.due(probe);
                    let order: Vec<&str> = got.iter().flatten().copied().collect();
                    let expect: Vec<&str> = order
                        .iter()
                        .copied()
                        .filter(|u| retry_at.get(*u).is_none_or(|r| *r <= probe))
                        .collect();
                    prop_assert_eq!(&due, &expect, "due at {:?}", probe);
                    for u in &due {
                        prop_assert!(retry_at.get(u).is_none_or(|r| *r <= probe), "{} due before its backoff ended", u);
                    }
                }
                // retry_in: at least 1 s, and after it something is due (when there is
                // anything at all).
                let wait = t.retry_in(now);
                prop_assert!(wait >= Duration::from_secs(1));
                prop_assert!(wait <= BACKOFF_MAX);
                if !t.is_empty() {
                    prop_assert!(!t.due(now + wait).is_empty());
                }
            }
        }
    }
}
