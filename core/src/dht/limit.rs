//! Rate limits for answering queries: a token bucket per source IP (at most `max_ips`
//! remembered, the oldest forgotten first) and one global bucket, in integer
//! milli-tokens so no floating point or clock reaches the result.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;

use crate::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Queries answered per second from one IP, sustained.
    pub per_ip_per_sec: u64,
    /// Queries one IP may send in a burst.
    pub per_ip_burst: u64,
    /// Source IPs remembered (the memory bound of this limiter).
    pub max_ips: usize,
    /// Queries answered per second in total.
    pub global_per_sec: u64,
    pub global_burst: u64,
}

impl Default for RateLimits {
    fn default() -> Self {
        // Generous for one IP (a loopback test has every node on 127.0.0.1), and a global
        // ceiling of ~2000 answers (~1.5 MB) per second.
        RateLimits {
            per_ip_per_sec: 50,
            per_ip_burst: 200,
            max_ips: 4096,
            global_per_sec: 2000,
            global_burst: 2000,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    milli: u64,
    last: Instant,
}

impl Bucket {
    fn full(now: Instant, burst: u64) -> Bucket {
        Bucket {
            milli: burst * 1000,
            last: now,
        }
    }

    fn take(&mut self, now: Instant, per_sec: u64, burst: u64) -> bool {
        let elapsed = now.saturating_since(self.last).as_millis();
        self.milli = (self.milli + elapsed.saturating_mul(per_sec)).min(burst * 1000);
        self.last = now.max(self.last);
        if self.milli >= 1000 {
            self.milli -= 1000;
            true
        } else {
            false
        }
    }
}

#[derive(Clone, Debug)]
pub struct Limiter {
    limits: RateLimits,
    per_ip: BTreeMap<Ipv4Addr, Bucket>,
    order: VecDeque<Ipv4Addr>,
    global: Bucket,
}

impl Limiter {
    pub fn new(limits: RateLimits, now: Instant) -> Limiter {
        Limiter {
            limits,
            per_ip: BTreeMap::new(),
            order: VecDeque::new(),
            global: Bucket::full(now, limits.global_burst),
        }
    }

    /// Whether a query from `ip` may be answered now (and count it).
    pub fn allow(&mut self, now: Instant, ip: Ipv4Addr) -> bool {
        let l = self.limits;
        if !self.per_ip.contains_key(&ip) {
            while self.per_ip.len() >= l.max_ips.max(1) {
                match self.order.pop_front() {
                    Some(old) => {
                        self.per_ip.remove(&old);
                    }
                    None => break,
                }
            }
            self.per_ip.insert(ip, Bucket::full(now, l.per_ip_burst));
            self.order.push_back(ip);
        }
        let b = self.per_ip.get_mut(&ip).expect("inserted above");
        b.take(now, l.per_ip_per_sec, l.per_ip_burst)
            && self.global.take(now, l.global_per_sec, l.global_burst)
    }

    pub fn tracked_ips(&self) -> usize {
        self.per_ip.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_and_global_buckets() {
        let limits = RateLimits {
            per_ip_per_sec: 10,
            per_ip_burst: 5,
            max_ips: 3,
            global_per_sec: 100,
            global_burst: 8,
        };
        let mut l = Limiter::new(limits, Instant(0));
        let a = Ipv4Addr::new(1, 1, 1, 1);
        let n = (0..20).filter(|_| l.allow(Instant(0), a)).count();
        assert_eq!(n, 5, "burst");
        assert!(l.allow(Instant(100), a), "one more after 100 ms at 10/s");
        assert!(!l.allow(Instant(100), a));
        // The global bucket refilled to its burst of 8 at 100 ms and `a` took one: seven
        // of eight other IPs get through.
        let others = (2..10u8)
            .filter(|i| l.allow(Instant(100), Ipv4Addr::new(2, 2, 2, *i)))
            .count();
        assert_eq!(others, 7);
        assert_eq!(l.tracked_ips(), 3, "bounded");
    }
}
