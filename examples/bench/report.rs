//! The comparison's results: the table of `results.md` and the rows of `results.csv`.

use std::fmt::Write as _;
use std::path::Path;

use crate::servers::{MemoryProfile, Server, SERVERS};

/// One server in one scenario. "Unit" is a call for unary scenarios, a message for streaming.
#[derive(Clone, Copy)]
pub struct Measured {
    pub rate: f64,
    pub p99_us: f64,
    /// Server CPU time (user + system) per unit.
    pub cpu_us: f64,
    /// Server threads put to sleep or preempted per unit: the price of each hand-off
    /// between threads, which is what separates a pool of workers from handlers on the I/O
    /// threads.
    pub switches: f64,
    pub errors: u64,
}

/// A server's figures in a [`Row`].
pub struct Entry {
    pub server: Server,
    pub measured: Measured,
}

pub struct Row {
    pub scenario: String,
    /// One per server that ran it.
    pub results: Vec<Entry>,
}

impl Row {
    pub fn of(&self, server: Server) -> Option<&Measured> {
        self.results.iter().find(|e| e.server == server).map(|e| &e.measured)
    }
}

/// A server's line in the memory table.
pub struct MemoryRow {
    pub server: Server,
    pub profile: MemoryProfile,
}

/// Which CPUs the servers and the load generator were pinned to.
pub struct CpuSplit {
    pub server: Vec<usize>,
    pub client: Vec<usize>,
}

/// The markdown of `results.md`; `runs` says how long each scenario ran ("3 rounds of 3 s").
pub fn render(rows: &[Row], memory: &[MemoryRow], runs: &str, cpus: &CpuSplit) -> String {
    let mut t = String::new();
    let (server_cpus, client_cpus) = (&cpus.server, &cpus.client);
    let mut all: Vec<usize> = server_cpus.iter().chain(client_cpus).copied().collect();
    all.sort_unstable();
    all.dedup();
    let _ = writeln!(
        t,
        "Machine: {} CPUs, {}; servers pinned to CPUs {server_cpus:?}, load generator to CPUs {client_cpus:?}; \
         each scenario ran {runs} per server, the servers taking turns; figures are medians.\n",
        all.len(),
        kernel()
    );
    let _ = writeln!(t, "Throughput is calls/s for unary scenarios, messages/s for streaming ones.\n");
    let shorts = SERVERS.map(Server::short).join(", ");
    let _ = writeln!(
        t,
        "| scenario | {} | a3/raw | inline/raw | tonic/raw | a3/Python | {} | p99 a3/raw | p99 inline/raw | p99 tonic/raw | server CPU µs per unit ({shorts}) | thread switches per unit ({shorts}) | errors ({shorts}) |",
        SERVERS.map(|s| format!("{} /s", s.label())).join(" | "),
        SERVERS.map(|s| format!("p99 {} µs", s.short())).join(" | "),
    );
    let columns = "---:|".repeat(SERVERS.len());
    let _ = writeln!(t, "|---|{columns}---:|---:|---:|---:|{columns}---:|---:|---:|---|---|---|");
    // NaN prints as "NaN": a server missing from a row shows as such rather than as a zero.
    let missing = Measured { rate: f64::NAN, p99_us: f64::NAN, cpu_us: f64::NAN, switches: f64::NAN, errors: 0 };
    for row in rows {
        let m = |server| *row.of(server).unwrap_or(&missing);
        let [a3, inline, raw, tonic, py] = SERVERS.map(m);
        let list = |f: fn(&Measured) -> String| SERVERS.map(|s| f(&m(s))).join(", ");
        let _ = writeln!(
            t,
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
            row.scenario,
            SERVERS.map(|s| format!("{:.0}", m(s).rate)).join(" | "),
            a3.rate / raw.rate.max(1e-9),
            inline.rate / raw.rate.max(1e-9),
            tonic.rate / raw.rate.max(1e-9),
            a3.rate / py.rate.max(1e-9),
            SERVERS.map(|s| format!("{:.0}", m(s).p99_us)).join(" | "),
            a3.p99_us / raw.p99_us.max(1e-9),
            inline.p99_us / raw.p99_us.max(1e-9),
            tonic.p99_us / raw.p99_us.max(1e-9),
            list(|r| format!("{:.1}", r.cpu_us)),
            list(|r| format!("{:.2}", r.switches)),
            list(|r| r.errors.to_string()),
        );
    }
    let _ = writeln!(t, "\nA unit is a call (unary) or a message (streaming).");
    let _ = writeln!(t, "\n| server memory (RSS) | idle | 1,000 idle connections | 10,000 in-flight streams | peak |");
    let _ = writeln!(t, "|---|---:|---:|---:|---:|");
    for MemoryRow { server, profile: MemoryProfile { idle, connections, streams, peak } } in memory {
        let _ = writeln!(
            t,
            "| {} | {:.1} MiB | {:.1} MiB ({:.1} KiB/conn) | {:.1} MiB ({:.2} KiB/call) | {:.1} MiB |",
            server.label(),
            *idle as f64 / 1024.0,
            *connections as f64 / 1024.0,
            connections.saturating_sub(*idle) as f64 / 1000.0,
            *streams as f64 / 1024.0,
            streams.saturating_sub(*idle) as f64 / 10_000.0,
            *peak as f64 / 1024.0
        );
    }
    t
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| format!("Linux {}", s.trim())).unwrap_or_default()
}

pub fn csv(rows: &[Row]) -> String {
    let mut t =
        String::from("scenario,server,throughput_per_s,p99_us,server_cpu_us_per_unit,switches_per_unit,errors\n");
    for row in rows {
        for Entry { server, measured: r } in &row.results {
            let _ = writeln!(
                t,
                "\"{}\",{},{:.1},{:.1},{:.2},{:.3},{}",
                row.scenario,
                server.key(),
                r.rate,
                r.p99_us,
                r.cpu_us,
                r.switches,
                r.errors
            );
        }
    }
    t
}

/// Reads rows back from a `results.csv` written by [`csv`].
pub fn read_csv(path: &Path) -> Result<Vec<Row>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rows: Vec<Row> = Vec::new();
    for line in text.lines().skip(1) {
        let (scenario, rest) =
            line.strip_prefix('"').and_then(|l| l.split_once("\",")).ok_or_else(|| format!("bad line {line:?}"))?;
        let fields: Vec<&str> = rest.split(',').collect();
        let server = fields.first().and_then(|key| Server::from_key(key)).ok_or(format!("bad server in {line:?}"))?;
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).ok_or(format!("bad line {line:?}"));
        let measured = Measured {
            rate: number(1)?,
            p99_us: number(2)?,
            cpu_us: number(3)?,
            switches: number(4)?,
            errors: number(5)? as u64,
        };
        let entry = Entry { server, measured };
        match rows.last_mut() {
            Some(row) if row.scenario == scenario => row.results.push(entry),
            _ => rows.push(Row { scenario: scenario.to_owned(), results: vec![entry] }),
        }
    }
    Ok(rows)
}
