//! The `compare` command: the scenarios, the rounds the servers take turns in, their medians,
//! and the CPUs the servers and the load generator are pinned to.

use std::path::Path;
use std::time::Duration;

use a3grpc_examples::python;

use crate::chart::chart;
use crate::load::{drive, Kind, Limit, Scenario};
use crate::report::{csv, render, CpuSplit, Entry, Measured, MemoryRow, Row};
use crate::servers::{ServerProcess, SERVERS};

fn scenarios() -> Vec<Scenario> {
    let unary = |name: &str, connections, concurrency, payload, sleep| Scenario {
        name: name.into(),
        kind: Kind::Unary,
        connections,
        concurrency,
        payload,
        sleep,
        messages: 1,
    };
    let stream = |name: &str, kind, concurrency, messages| Scenario {
        name: name.into(),
        kind,
        connections: 1,
        concurrency,
        payload: 16,
        sleep: false,
        messages,
    };
    vec![
        unary("unary 16 B, c=1, 1 conn", 1, 1, 16, false),
        unary("unary 16 B, c=16, 1 conn", 1, 16, 16, false),
        unary("unary 16 B, c=256, 1 conn", 1, 256, 16, false),
        unary("unary 16 B, c=16, 8 conns", 8, 16, 16, false),
        unary("unary 16 B, c=256, 8 conns", 8, 256, 16, false),
        unary("unary 64 KiB, c=16, 1 conn", 1, 16, 64 << 10, false),
        unary("unary 1 ms View, c=64, 8 conns", 8, 64, 16, true),
        stream("server stream 16 B x 1000, c=4", Kind::ServerStream, 4, 1000),
        stream("client stream 16 B x 1000, c=4", Kind::ClientStream, 4, 1000),
        stream("bidi 16 B x 1000, c=4", Kind::Bidi, 4, 1000),
    ]
}

pub fn compare(seconds: f64, rounds: usize, out: &Path) -> Result<(), String> {
    let stubs = python::hello_world_stubs()?;
    let servers = SERVERS;
    let plan = scenarios();
    let cpus = split_cpus();
    // The servers get their own CPUs (inherited at spawn) and the load generator the rest, so
    // they do not compete and the numbers measure the servers. All run side by side (an idle
    // server costs nothing) and take turns in every scenario, round after round: drift in the
    // machine's speed then hits them alike instead of whichever ran during it.
    pin(&cpus.server);
    let started: Vec<_> = servers.iter().map(|server| server.start(stubs.path())).collect();
    pin(&cpus.client);
    let processes = started.into_iter().collect::<Result<Vec<_>, _>>()?;
    for process in &processes {
        // Warm-up: connections, thread pools and caches.
        drive(&process.target(), &plan[1], &Limit::Time(Duration::from_millis(500)), false);
    }
    let mut rows = Vec::new();
    for s in &plan {
        let mut samples = vec![Vec::new(); servers.len()];
        for round in 1..=rounds {
            for ((server, process), samples) in servers.iter().zip(&processes).zip(&mut samples) {
                eprintln!("== {} on {} (round {round}/{rounds})", s.name, server.label());
                samples.push(measure(process, s, seconds));
            }
        }
        let results = servers
            .iter()
            .zip(&samples)
            .map(|(server, samples)| Entry { server: *server, measured: median(samples) })
            .collect();
        rows.push(Row { scenario: s.name.clone(), results });
    }
    let memory: Vec<MemoryRow> = servers
        .iter()
        .zip(&processes)
        .map(|(server, process)| MemoryRow { server: *server, profile: process.memory_profile() })
        .collect();
    let table = render(&rows, &memory, &format!("{rounds} rounds of {seconds} s"), &cpus);
    println!("\n{table}");
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    std::fs::write(out.join("results.md"), &table).map_err(|e| e.to_string())?;
    std::fs::write(out.join("results.csv"), csv(&rows)).map_err(|e| e.to_string())?;
    chart(&rows, &out.join("chart.svg"))?;
    eprintln!("wrote {}/results.md, results.csv and chart.svg", out.display());
    Ok(())
}

/// One scenario against one server, with the server's CPU time and thread switches.
fn measure(process: &ServerProcess, s: &Scenario, seconds: f64) -> Measured {
    let before = process.usage();
    let tally = drive(&process.target(), s, &Limit::Time(Duration::from_secs_f64(seconds)), true);
    let used = process.usage() - before;
    tally.print(s);
    let streaming = s.kind != Kind::Unary;
    let (rate, units) = if streaming { (tally.message_rate(), tally.messages) } else { (tally.rate(), tally.calls) };
    let units = units.max(1) as f64;
    Measured {
        rate,
        p99_us: tally.percentile_us(0.99),
        cpu_us: used.cpu_seconds * 1e6 / units,
        switches: used.switches as f64 / units,
        errors: tally.errors.values().sum(),
    }
}

/// Each figure's median over the rounds (errors are summed: any is one too many).
fn median(samples: &[Measured]) -> Measured {
    let mid = |f: fn(&Measured) -> f64| {
        let mut v: Vec<f64> = samples.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    Measured {
        rate: mid(|m| m.rate),
        p99_us: mid(|m| m.p99_us),
        cpu_us: mid(|m| m.cpu_us),
        switches: mid(|m| m.switches),
        errors: samples.iter().map(|m| m.errors).sum(),
    }
}

/// Half the CPUs for the server, the other half for the load generator (all of them for both
/// on a one-CPU machine).
fn split_cpus() -> CpuSplit {
    let cpus: Vec<usize> = (0..std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).collect();
    if cpus.len() < 2 {
        return CpuSplit { server: cpus.clone(), client: cpus };
    }
    let (client, server) = cpus.split_at(cpus.len() / 2);
    CpuSplit { server: server.to_vec(), client: client.to_vec() }
}

/// Restricts this process (and what it spawns from now on) to `cpus`.
fn pin(cpus: &[usize]) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it, and
    // sched_setaffinity reads it; pid 0 is this process.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
