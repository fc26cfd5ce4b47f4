//! Server-side measurements around a workload: the server process's CPU time
//! (`--server-pid`: utime + stime from `/proc/PID/stat`, all threads) and its own latency
//! histogram (`--metrics-addr`: `treestore_request_duration_seconds` sum and count per method
//! from the Prometheus endpoint).

use crate::BoxErr;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// CPU time of a process.
pub struct Cpu {
    pid: u32,
    ticks_per_second: f64,
}

impl Cpu {
    pub fn new(pid: u32) -> Result<Cpu, BoxErr> {
        // USER_HZ, the unit of utime and stime.
        let out = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .map_err(|e| format!("getconf CLK_TCK: {e}"))?;
        let ticks: f64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|e| format!("getconf CLK_TCK printed no number: {e}"))?;
        let cpu = Cpu {
            pid,
            ticks_per_second: ticks,
        };
        cpu.seconds()?;
        Ok(cpu)
    }

    /// utime + stime of every thread of the process so far, in seconds.
    pub fn seconds(&self) -> Result<f64, BoxErr> {
        let path = format!("/proc/{}/stat", self.pid);
        let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        // The command name (field 2) is in parentheses and may contain spaces: fields after
        // the last ')' start with field 3 (state); utime and stime are fields 14 and 15.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .ok_or_else(|| format!("{path}: unexpected format"))?;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| -> Result<u64, BoxErr> {
            f.get(i - 3)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{path}: no field {i}").into())
        };
        Ok((field(14)? + field(15)?) as f64 / self.ticks_per_second)
    }
}

/// Sum (seconds) and count of the server's request latency histogram, per method.
pub type Latencies = HashMap<String, (f64, f64)>;

pub fn scrape(addr: &str) -> Result<Latencies, BoxErr> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("metrics {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = String::new();
    s.read_to_string(&mut body)
        .map_err(|e| format!("metrics {addr}: {e}"))?;
    if !body.starts_with("HTTP/1.1 200") {
        return Err(format!("metrics {addr}: {}", body.lines().next().unwrap_or("")).into());
    }
    let mut out = Latencies::new();
    for line in body.lines() {
        let (is_sum, rest) =
            if let Some(r) = line.strip_prefix("treestore_request_duration_seconds_sum{") {
                (true, r)
            } else if let Some(r) = line.strip_prefix("treestore_request_duration_seconds_count{") {
                (false, r)
            } else {
                continue;
            };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let Some(method) = labels
            .split(',')
            .find_map(|l| l.strip_prefix("method=\""))
            .and_then(|m| m.strip_suffix('"'))
        else {
            continue;
        };
        let Ok(v) = value.trim().parse::<f64>() else {
            continue;
        };
        let e = out.entry(method.to_string()).or_insert((0.0, 0.0));
        if is_sum {
            e.0 = v;
        } else {
            e.1 = v;
        }
    }
    Ok(out)
}

/// Mean server-side latency in microseconds of `method` between two scrapes.
pub fn mean_us(before: &Latencies, after: &Latencies, method: &str) -> Option<f64> {
    let (s1, c1) = after.get(method)?;
    let (s0, c0) = before.get(method).copied().unwrap_or((0.0, 0.0));
    let n = c1 - c0;
    (n > 0.0).then(|| (s1 - s0) / n * 1e6)
}
