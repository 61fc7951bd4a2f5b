//! A one-line progress bar for terminals: percentage, speed, ETA, peers and pieces.

use std::io::Write;
use std::time::Instant;

use super::engine::Progress;

/// Redraws one stderr line; speed is a moving average over the last few seconds.
#[derive(Debug)]
pub struct Bar {
    samples: std::collections::VecDeque<(Instant, u64)>,
}

impl Default for Bar {
    fn default() -> Self {
        Bar::new()
    }
}

pub fn human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

impl Bar {
    pub fn new() -> Bar {
        Bar {
            samples: std::collections::VecDeque::new(),
        }
    }

    /// The line for `p` (without drawing it).
    pub fn line(&mut self, p: &Progress) -> String {
        let t = Instant::now();
        self.samples.push_back((t, p.payload_downloaded));
        while self.samples.len() > 10 {
            self.samples.pop_front();
        }
        let (t0, b0) = self.samples[0];
        let dt = t.duration_since(t0).as_secs_f64();
        let rate = if dt > 0.0 {
            (p.payload_downloaded - b0) as f64 / dt
        } else {
            0.0
        };
        let frac = if p.bytes_total == 0 {
            1.0
        } else {
            p.bytes_have as f64 / p.bytes_total as f64
        };
        let width = 24;
        let filled = ((frac * width as f64) as usize).min(width);
        let eta = if p.complete {
            "done".to_string()
        } else if rate > 0.0 {
            format!("{:.0}s", (p.bytes_total - p.bytes_have) as f64 / rate)
        } else {
            "--".to_string()
        };
        format!(
            "[{}{}] {:5.1}% {}/s ETA {eta} peers {} pieces {}/{} up {}",
            "#".repeat(filled),
            "-".repeat(width - filled),
            frac * 100.0,
            human(rate),
            p.peers,
            p.pieces_have,
            p.pieces,
            human(p.payload_uploaded as f64),
        )
    }

    pub fn draw(&mut self, p: &Progress) {
        let line = self.line(p);
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r\x1b[2K{line}");
        let _ = e.flush();
    }

    pub fn finish(&self) {
        eprintln!();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_percent_pieces_and_peers() {
        let mut b = Bar::new();
        let p = Progress {
            pieces: 4,
            pieces_have: 2,
            bytes_total: 4096,
            bytes_have: 2048,
            peers: 3,
            ..Progress::default()
        };
        let l = b.line(&p);
        assert!(l.contains(" 50.0%"), "{l}");
        assert!(l.contains("peers 3 pieces 2/4"), "{l}");
        assert_eq!(human(1536.0), "1.5 KiB");
    }
}
