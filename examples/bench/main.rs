//! The benchmark: a load generator, and a comparison of five servers of the same service
//! driven by it in one run.
//!
//! ```text
//! bench run --target 127.0.0.1:PORT [--kind unary|server|client|bidi] [--connections N]
//!           [--concurrency M] [--payload BYTES] [--sleep] [--messages K] [--seconds S | --calls N]
//! bench compare [--seconds S] [--rounds N] [--out DIR]
//! bench chart [DIR]          (redraws DIR/chart.svg from DIR/results.csv)
//! ```
//!
//! `run` drives one target over N connections with M calls in flight in all and prints
//! progress, calls/s, latency percentiles (HDR histogram) and errors by status.
//!
//! `compare` starts five servers of the same service, pinned to half the CPUs (the load
//! generator gets the other half): the a3grpc bench server (Views on the worker pool), the same
//! with its unary View inline on the I/O threads, the service on raw grpcio handlers (the
//! engine's ceiling), on tonic (async Rust; `bench/tonic`), and Python a3grpc 0.3.0 (needs
//! the test venv, see `scripts/setup.sh --python`). Every scenario runs `--rounds` times
//! (default 3) for `--seconds` (default 3) on each, the servers taking turns, and the table
//! shows medians. It measures the servers' CPU time, thread switches and memory from /proc,
//! prints a table with the ratios a3grpc/raw and a3grpc/Python, and writes `results.md`,
//! `results.csv` and `chart.svg` into the output folder (default `bench/`).

mod chart;
mod compare;
mod load;
mod report;
mod servers;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use load::{Kind, Limit, Scenario};

/// `bench run`'s arguments.
struct RunArgs {
    target: String,
    scenario: Scenario,
    limit: Limit,
}

/// `bench compare`'s arguments.
struct CompareArgs {
    seconds: f64,
    rounds: usize,
    out: PathBuf,
}

fn parse_run(args: &[String]) -> Result<RunArgs, String> {
    let mut target = None;
    let mut s = Scenario {
        name: "run".into(),
        kind: Kind::Unary,
        connections: 1,
        concurrency: 1,
        payload: 16,
        sleep: false,
        messages: 100,
    };
    let mut limit = Limit::Time(Duration::from_secs(5));
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--sleep" {
            s.sleep = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|_| format!("{flag} takes a number"));
        match flag.as_str() {
            "--target" => target = Some(value.clone()),
            "--kind" => {
                s.kind = match value.as_str() {
                    "unary" => Kind::Unary,
                    "server" => Kind::ServerStream,
                    "client" => Kind::ClientStream,
                    "bidi" => Kind::Bidi,
                    other => return Err(format!("unknown kind {other}")),
                }
            }
            "--connections" => s.connections = number()?.max(1),
            "--concurrency" => s.concurrency = number()?.max(1),
            "--payload" => s.payload = number()?,
            "--messages" => s.messages = number()?,
            "--seconds" => {
                limit = Limit::Time(Duration::from_secs_f64(value.parse().map_err(|_| "--seconds takes a number")?))
            }
            "--calls" => limit = Limit::Calls(number()? as u64),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(RunArgs { target: target.ok_or("--target HOST:PORT is required")?, scenario: s, limit })
}

fn parse_compare(args: &[String]) -> Result<CompareArgs, String> {
    let mut parsed = CompareArgs { seconds: 3.0, rounds: 3, out: PathBuf::from("bench") };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--seconds" => {
                parsed.seconds =
                    value.parse().ok().filter(|s: &f64| *s > 0.0).ok_or("--seconds takes a positive number")?
            }
            "--rounds" => {
                parsed.rounds = value.parse().ok().filter(|r| *r > 0).ok_or("--rounds takes a positive count")?
            }
            "--out" => parsed.out = PathBuf::from(value),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("run") => parse_run(&args[1..]).map(|run| {
            load::drive(&run.target, &run.scenario, &run.limit, true).print(&run.scenario);
        }),
        Some("compare") => {
            parse_compare(&args[1..]).and_then(|c| compare::compare(c.seconds, c.rounds, &c.out))
        }
        Some("chart") => {
            let dir = PathBuf::from(args.get(1).map(String::as_str).unwrap_or("bench"));
            report::read_csv(&dir.join("results.csv")).and_then(|rows| chart::chart(&rows, &dir.join("chart.svg")))
        }
        _ => Err(
            "usage: bench run --target HOST:PORT [...] | bench compare [--seconds S] [--rounds N] [--out DIR] | bench chart [DIR]"
                .into(),
        ),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: {err}");
            ExitCode::FAILURE
        }
    }
}
