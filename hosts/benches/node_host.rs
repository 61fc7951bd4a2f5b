//! Figures for `airswarm node` (issue targets: idle under 1 % of a core and 30 MB; a
//! message from the API to the radio backend in under 10 ms; 1,000 API requests a second
//! without delaying radio traffic). Prints a table; no thresholds.
//!
//!     cargo bench -p airswarm-hosts --bench node_host
//!
//! Part 1 runs the runtime in this process on a recording radio (API call → frame handed
//! to the radio). Part 2 runs real processes (`airswarm air` and two `airswarm node`s) and
//! reads their CPU time and memory from /proc.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use airswarm_core::crypto::{ChannelKey, Identity, seeded_rng};
use airswarm_hosts::node::handle::ApiHandle;
use airswarm_hosts::node::runtime::{Runtime, Settings};
use airswarm_hosts::node::store::Store;
use airswarm_hosts::radio::{RadioEvent, RadioLink};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// A radio that records when each frame reached it and finishes it at once.
fn recording_radio() -> (RadioLink, mpsc::UnboundedReceiver<Instant>) {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16);
    let (ev_tx, ev_rx) = mpsc::channel(64);
    let (seen_tx, seen_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            let _ = seen_tx.send(Instant::now());
            let _ = ev_tx.send(RadioEvent::TransmitDone).await;
        }
    });
    (
        RadioLink {
            transmit: tx,
            events: ev_rx,
            description: "recording radio".into(),
        },
        seen_rx,
    )
}

async fn api_to_radio(dir: &std::path::Path, load: bool) -> (f64, f64, f64) {
    let id = Identity::generate(&mut seeded_rng(1)).unwrap();
    let store = Store::open(&dir.join(format!("bench-{load}.db"))).unwrap();
    let (radio, mut seen) = recording_radio();
    let (api, calls) = ApiHandle::new(256);
    let rt = Runtime::new(id, store, Settings::default(), &radio, api.clone(), [9; 32]).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(rt.run(calls, radio.events, async {
        let _ = stopped.await;
    }));
    let key = ChannelKey::from_bytes([1; 32]).to_text();
    api.call(json!({"cmd": "join", "channel": "base", "key": key}))
        .await;
    // The start-up announcement's frames.
    tokio::time::sleep(Duration::from_millis(300)).await;
    while seen.try_recv().is_ok() {}
    // Background API load: TCP clients asking for peers and id as fast as answered.
    let served = Arc::new(AtomicU64::new(0));
    let mut load_tasks = Vec::new();
    let (stop_api, api_stopped) = oneshot::channel::<()>();
    if load {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(airswarm_hosts::node::api::serve(
            listener,
            api.clone(),
            async {
                let _ = api_stopped.await;
            },
        ));
        for _ in 0..4 {
            let served = served.clone();
            load_tasks.push(tokio::task::spawn_blocking(move || {
                let s = TcpStream::connect(addr).unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                let mut line = String::new();
                let end = Instant::now() + Duration::from_secs(6);
                while Instant::now() < end {
                    w.write_all(b"{\"cmd\":\"peers\"}\n").unwrap();
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    served.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
    }
    let mut lat = Vec::new();
    let started = Instant::now();
    for i in 0..100 {
        let t0 = Instant::now();
        let r = api
            .call(json!({"cmd": "send", "channel": "base", "text": format!("bench {i}")}))
            .await;
        assert_eq!(r["ok"], true, "{r}");
        let t1 = tokio::time::timeout(Duration::from_secs(30), seen.recv())
            .await
            .expect("the frame reached the radio")
            .unwrap();
        lat.push(t1.duration_since(t0).as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    for t in load_tasks {
        t.await.unwrap();
    }
    let rate = served.load(Ordering::Relaxed) as f64 / elapsed.max(6.0);
    let _ = stop_api.send(());
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    let p50 = percentile(&mut lat, 0.5);
    let p99 = percentile(&mut lat, 0.99);
    (p50, p99, rate)
}

fn proc_cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn proc_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_line(child: &mut Child, marker: &str, stderr: bool) -> String {
    let r: Box<dyn std::io::Read + Send> = if stderr {
        Box::new(child.stderr.take().unwrap())
    } else {
        Box::new(child.stdout.take().unwrap())
    };
    let mut lines = BufReader::new(r).lines();
    for l in lines.by_ref() {
        let l = l.unwrap();
        if let Some(at) = l.find(marker) {
            let addr: String = l[at + marker.len()..]
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                .collect();
            // Keep draining so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return addr;
        }
    }
    panic!("no line with {marker}");
}

fn idle_process_figures(dir: &std::path::Path) -> (f64, f64, f64) {
    let bin = env!("CARGO_BIN_EXE_airswarm");
    std::fs::write(dir.join("links.txt"), "a b 8\n").unwrap();
    let mut air = Command::new(bin)
        .args(["air", "--listen", "127.0.0.1:0", "--links"])
        .arg(dir.join("links.txt"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let air_addr = wait_for_line(&mut air, "listening on", false);
    let _air = Kill(air);
    let mut nodes = Vec::new();
    for name in ["a", "b"] {
        let mut n = Command::new(bin)
            .args(["node", "--name", name, "--api", "127.0.0.1:0", "--radio"])
            .arg(format!("air:{air_addr}"))
            .arg("--home")
            .arg(dir.join(name))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_line(&mut n, "API on", true);
        nodes.push(Kill(n));
    }
    // Let start-up (key generation, announcements, the first handshakes) settle.
    std::thread::sleep(Duration::from_secs(15));
    let pid = nodes[0].0.id();
    let tick = 100.0; // USER_HZ on Linux
    let t0 = proc_cpu_ticks(pid);
    let window = 20.0;
    std::thread::sleep(Duration::from_secs_f64(window));
    let cpu = (proc_cpu_ticks(pid) - t0) as f64 / tick / window * 100.0;
    (
        cpu,
        proc_kib(pid, "VmRSS:") as f64 / 1024.0,
        proc_kib(pid, "VmHWM:") as f64 / 1024.0,
    )
}

fn main() {
    let dir = std::env::temp_dir().join(format!("airswarm-node-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (p50, p99, _) = rt.block_on(api_to_radio(&dir, false));
    let (lp50, lp99, rate) = rt.block_on(api_to_radio(&dir, true));
    let (cpu, rss, hwm) = idle_process_figures(&dir);
    println!("airswarm node figures (this machine; targets from the issue, for a Raspberry Pi)");
    println!("{:<52} {:>12} {:>10}", "figure", "measured", "target");
    println!(
        "{:<52} {:>9.2} ms {:>10}",
        "API send -> radio backend, p50 (idle)", p50, "< 10 ms"
    );
    println!(
        "{:<52} {:>9.2} ms {:>10}",
        "API send -> radio backend, p99 (idle)", p99, "< 10 ms"
    );
    println!(
        "{:<52} {:>9.2} ms {:>10}",
        "API send -> radio backend, p50 (under API load)", lp50, "< 10 ms"
    );
    println!(
        "{:<52} {:>9.2} ms {:>10}",
        "API send -> radio backend, p99 (under API load)", lp99, "< 10 ms"
    );
    println!(
        "{:<52} {:>8.0} r/s {:>10}",
        "API requests served (4 TCP clients, peers)", rate, ">= 1000"
    );
    println!(
        "{:<52} {:>10.2} % {:>10}",
        "idle node CPU (one core, 20 s window)", cpu, "< 1 %"
    );
    println!(
        "{:<52} {:>9.1} MB {:>10}",
        "idle node resident memory (VmRSS)", rss, "< 30 MB"
    );
    println!(
        "{:<52} {:>9.1} MB {:>10}",
        "idle node peak resident memory (VmHWM)", hwm, "< 30 MB"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
