//! The channel model: links with path loss and shadowing, per-frame fading, half-duplex
//! radios, listen-before-talk, and collisions with capture.

use super::*;

#[derive(Debug)]
pub(super) struct Arrival {
    pub(super) tx: u32,
    pub(super) rssi: f64,
    pub(super) end_us: u64,
    pub(super) decodable: bool,
    pub(super) lost: bool,
}

#[derive(Debug)]
pub(super) struct Tx {
    pub(super) sender: u32,
    pub(super) frame: Vec<u8>,
    pub(super) receivers: Vec<(u32, f64)>,
}

/// Keep every pair of nodes whose mean power could reach the floor where it still matters
/// as interference (well below sensitivity), with its mean received power.
pub(super) fn build_links(cfg: &SimConfig, nodes: &mut [SimNode], sensitivity: f64) {
    let tx_dbm = cfg.lora.tx_power_dbm as f64;
    let floor = sensitivity - 3.0 * cfg.path_loss.fading_db - cfg.capture_db;
    let pl = cfg.path_loss;
    let asymmetry = cfg.link_asymmetry_db;
    let max_loss = tx_dbm - floor + 4.0 * (pl.shadowing_db + asymmetry);
    let max_d = 10f64.powf((max_loss - pl.reference_db) / (10.0 * pl.exponent));
    // Grid buckets make link discovery O(n·k) instead of O(n²).
    let cell = max_d.max(1.0);
    let mut grid: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        grid.entry(((n.x / cell) as i64, (n.y / cell) as i64))
            .or_default()
            .push(i);
    }
    for i in 0..nodes.len() {
        let (cx, cy) = ((nodes[i].x / cell) as i64, (nodes[i].y / cell) as i64);
        for dx in -1..=1 {
            for dy in -1..=1 {
                let Some(bucket) = grid.get(&(cx + dx, cy + dy)) else {
                    continue;
                };
                for &j in bucket {
                    if j <= i {
                        continue;
                    }
                    let d = ((nodes[i].x - nodes[j].x).powi(2) + (nodes[i].y - nodes[j].y).powi(2))
                        .sqrt()
                        .max(1.0);
                    if d > max_d {
                        continue;
                    }
                    // Shadowing is drawn per pair, in pair order, so it is symmetric and
                    // independent of the strategy.
                    let mut link_rng = Rng::new(
                        cfg.seed
                            ^ ((i as u64) << 32 | j as u64).wrapping_mul(0xA24B_AED4_963E_E407),
                    );
                    let loss = pl.reference_db
                        + 10.0 * pl.exponent * d.log10()
                        + pl.shadowing_db * link_rng.normal();
                    let rx = tx_dbm - loss;
                    // Then one offset per direction (drawn after the shadowing, so the
                    // shared part does not depend on the asymmetry).
                    let (ij, ji) = if asymmetry > 0.0 {
                        (
                            rx + asymmetry * link_rng.normal(),
                            rx + asymmetry * link_rng.normal(),
                        )
                    } else {
                        (rx, rx)
                    };
                    if ij >= floor {
                        nodes[i].links.push((j as u32, ij as f32));
                    }
                    if ji >= floor {
                        nodes[j].links.push((i as u32, ji as f32));
                    }
                }
            }
        }
    }
}

impl Simulator {
    /// Node churn: switch node `n` off (what it is receiving is lost, what it would send
    /// is dropped) or back on.
    pub(super) fn switch(&mut self, t: u64, n: usize, on: bool) {
        let sn = &mut self.nodes[n];
        sn.off = !on;
        if on {
            self.service(t, n);
        } else {
            sn.queue.clear();
            for a in sn.arrivals.iter_mut() {
                a.lost = true;
            }
        }
    }

    pub(super) fn try_transmit(&mut self, t: u64, n: usize) {
        let sn = &mut self.nodes[n];
        if sn.off {
            // A switched-off radio sends nothing: frames handed to it are gone.
            sn.queue.clear();
            return;
        }
        if sn.tx_until.is_some() || sn.queue.is_empty() {
            return;
        }
        if self.cfg.listen_before_talk {
            let busy_until = sn
                .arrivals
                .iter()
                .filter(|a| a.decodable && a.end_us > t)
                .map(|a| a.end_us)
                .max();
            if let Some(end) = busy_until {
                if !sn.attempt_scheduled {
                    sn.attempt_scheduled = true;
                    // Back off past the frame in progress, plus a random slot or two.
                    let backoff = self.channel_rng.below(20_000);
                    self.push(end + 1 + backoff, EvKind::TxAttempt(n as u32));
                }
                return;
            }
        }
        let frame = sn.queue.pop_front().expect("non-empty");
        let airtime = self.cfg.lora.time_on_air_us(frame.len()).unwrap_or(0);
        let end = t + airtime;
        sn.tx_until = Some(end);
        sn.airtime_us += airtime;
        sn.frames_sent += 1;
        // Half-duplex: whatever this node was receiving is gone.
        for a in sn.arrivals.iter_mut().filter(|a| !a.lost && a.end_us > t) {
            a.lost = true;
            if a.decodable {
                self.stats_half_duplex += 1;
            }
        }
        self.stats_tx += 1;
        self.stats_airtime_us += airtime;
        let id = self.next_tx;
        self.next_tx = self.next_tx.wrapping_add(1);
        let links = std::mem::take(&mut self.nodes[n].links);
        let mut receivers = Vec::with_capacity(links.len());
        for &(j, mean) in &links {
            let rssi = mean as f64 + self.cfg.path_loss.fading_db * self.channel_rng.normal();
            let decodable = rssi >= self.sensitivity;
            let rj = &mut self.nodes[j as usize];
            if rj.off {
                continue;
            }
            if rj.tx_until.is_some() {
                if decodable {
                    self.stats_half_duplex += 1;
                }
                continue;
            }
            let mut lost = false;
            for a in rj.arrivals.iter_mut().filter(|a| a.end_us > t) {
                let diff = rssi - a.rssi;
                if diff < self.cfg.capture_db && !lost {
                    lost = true;
                    if decodable {
                        self.stats_collisions += 1;
                    }
                }
                if diff > -self.cfg.capture_db && !a.lost {
                    a.lost = true;
                    if a.decodable {
                        self.stats_collisions += 1;
                    }
                }
            }
            if decodable {
                // The receiver's radio detects the preamble: busy until the frame ends.
                rj.node
                    .handle_carrier(Instant(t / 1000), Instant(end.div_ceil(1000)));
            }
            rj.arrivals.push(Arrival {
                tx: id,
                rssi,
                end_us: end,
                decodable,
                lost,
            });
            receivers.push((j, rssi));
        }
        self.nodes[n].links = links;
        self.txs.insert(
            id,
            Tx {
                sender: n as u32,
                frame,
                receivers,
            },
        );
        self.push(end, EvKind::TxEnd(id));
    }

    pub(super) fn tx_end(&mut self, t: u64, id: u32) {
        let Some(tx) = self.txs.remove(&id) else {
            return;
        };
        let s = tx.sender as usize;
        self.nodes[s].tx_until = None;
        for &(j, rssi) in &tx.receivers {
            let rj = &mut self.nodes[j as usize];
            let Some(pos) = rj.arrivals.iter().position(|a| a.tx == id) else {
                continue;
            };
            let a = rj.arrivals.swap_remove(pos);
            if a.lost || !a.decodable {
                continue;
            }
            self.events += 1;
            let snr = (rssi - self.noise_dbm) as f32;
            // Frames our own nodes produce always parse; a failure here would be a bug the
            // node counts in its stats.
            let _ = rj
                .node
                .handle_frame(Instant(t / 1000), &tx.frame, rssi as f32, snr);
            self.service(t, j as usize);
        }
        self.service(t, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim(asymmetry: f64) -> Simulator {
        Simulator::new(SimConfig {
            nodes: 30,
            area_m: 6_000.0,
            crypto: false,
            link_asymmetry_db: asymmetry,
            ..SimConfig::default()
        })
        .unwrap()
    }

    /// Mean power of the link i → j, if kept.
    fn power(s: &Simulator, i: usize, j: usize) -> Option<f32> {
        s.nodes[i]
            .links
            .iter()
            .find(|(k, _)| *k as usize == j)
            .map(|l| l.1)
    }

    #[test]
    fn without_asymmetry_every_link_is_the_same_both_ways() {
        let s = sim(0.0);
        for i in 0..30 {
            for &(j, p) in &s.nodes[i].links {
                assert_eq!(power(&s, j as usize, i), Some(p));
            }
        }
    }

    #[test]
    fn asymmetry_offsets_each_direction_around_the_shared_shadowing() {
        let (flat, skewed) = (sim(0.0), sim(3.0));
        let mut diffs = Vec::new();
        for i in 0..30 {
            for &(j, p) in &skewed.nodes[i].links {
                if let (Some(back), Some(shared)) =
                    (power(&skewed, j as usize, i), power(&flat, i, j as usize))
                {
                    diffs.push(f64::from(p - back));
                    // Each direction stays near the shared value (±6 σ).
                    assert!(f64::from((p - shared).abs()) < 18.0);
                }
            }
        }
        assert!(diffs.len() > 20);
        let asymmetric = diffs.iter().filter(|d| d.abs() > 0.1).count();
        assert!(
            asymmetric > diffs.len() / 2,
            "{asymmetric} of {}",
            diffs.len()
        );
        // The difference of two independent N(0, 3²) offsets has a spread of 3·√2 dB.
        let rms = (diffs.iter().map(|d| d * d).sum::<f64>() / diffs.len() as f64).sqrt();
        assert!((2.0..7.0).contains(&rms), "{rms}");
    }
}
