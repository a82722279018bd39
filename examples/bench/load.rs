//! The load generator: scenarios, the calls they make, and the tally of one run.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use a3grpc_examples::hello::{self, *};
use futures::stream::FuturesUnordered;
use futures::{SinkExt, StreamExt, TryStreamExt};
use grpcio::{CallOption, ChannelBuilder, Client, EnvBuilder, WriteFlags};
use hdrhistogram::Histogram;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Unary,
    ServerStream,
    ClientStream,
    Bidi,
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub kind: Kind,
    pub connections: usize,
    pub concurrency: usize,
    pub payload: usize,
    pub sleep: bool,
    /// Messages per streaming call.
    pub messages: usize,
}

pub enum Limit {
    Time(Duration),
    Calls(u64),
}

/// What one run of a scenario did.
#[derive(Default)]
pub struct Tally {
    pub calls: u64,
    pub messages: u64,
    pub errors: BTreeMap<String, u64>,
    latency: Option<Histogram<u64>>,
    elapsed: Duration,
}

impl Tally {
    pub fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn message_rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn percentile_us(&self, q: f64) -> f64 {
        self.latency.as_ref().map_or(0.0, |h| h.value_at_quantile(q) as f64)
    }

    fn max_us(&self) -> f64 {
        self.latency.as_ref().map_or(0.0, |h| h.max() as f64)
    }

    fn merge(&mut self, other: Tally) {
        self.calls += other.calls;
        self.messages += other.messages;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        match (&mut self.latency, other.latency) {
            (Some(total), Some(h)) => {
                let _ = total.add(&h);
            }
            (slot, h) => *slot = h,
        }
    }

    pub fn print(&self, s: &Scenario) {
        println!(
            "{}: {} calls in {:.2?} = {:.0} calls/s ({:.0} msgs/s); latency p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, max {:.0} µs; errors {:?}",
            s.name,
            self.calls,
            self.elapsed,
            self.rate(),
            self.message_rate(),
            self.percentile_us(0.5),
            self.percentile_us(0.9),
            self.percentile_us(0.99),
            self.max_us(),
            self.errors
        );
    }
}

fn request(s: &Scenario) -> HelloRequest {
    match s.kind {
        Kind::ServerStream => hello::request(&format!("{}:{}", s.messages, s.payload)),
        _ if s.sleep => hello::request(&format!("sleep{}", "x".repeat(s.payload.saturating_sub(5)))),
        _ => hello::request(&"x".repeat(s.payload)),
    }
}

/// One call of the scenario, start to end; the number of messages it moved.
async fn one_call(client: &Client, s: &Scenario, req: &HelloRequest) -> Result<u64, grpcio::Error> {
    match s.kind {
        Kind::Unary => {
            client.unary_call_async(&METHOD_GREETER_SAY_HELLO, req, CallOption::default())?.await?;
            Ok(1)
        }
        Kind::ServerStream => {
            let stream = client.server_streaming(&METHOD_GREETER_SAY_HELLO_STREAM_REPLY, req, CallOption::default())?;
            stream.try_fold(0u64, |n, _| async move { Ok(n + 1) }).await
        }
        Kind::ClientStream => {
            let (mut sink, receiver) =
                client.client_streaming(&METHOD_GREETER_SAY_STREAM_HELLO_REPLY, CallOption::default())?;
            let flags = WriteFlags::default().buffer_hint(true);
            let mut items = futures::stream::iter((0..s.messages).map(|_| Ok((req.clone(), flags))));
            sink.send_all(&mut items).await?;
            sink.close().await?;
            receiver.await?;
            Ok(s.messages as u64)
        }
        Kind::Bidi => {
            let (mut sink, receiver) =
                client.duplex_streaming(&METHOD_GREETER_SAY_HELLO_BIDI_STREAM, CallOption::default())?;
            let mut items = futures::stream::iter((0..s.messages).map(|_| Ok((req.clone(), WriteFlags::default()))));
            let send = async {
                sink.send_all(&mut items).await?;
                sink.close().await
            };
            let (sent, received) = futures::join!(send, receiver.try_fold(0u64, |n, _| async move { Ok(n + 1) }));
            sent?;
            received
        }
    }
}

fn status_name(err: &grpcio::Error) -> String {
    match err {
        grpcio::Error::RpcFailure(status) => a3grpc::error::Code::new(status.code().into()).to_string(),
        other => other.to_string(),
    }
}

/// What the connections' threads share while a run goes on.
#[derive(Default)]
struct Progress {
    done: AtomicU64,
    issued: AtomicU64,
    stop: AtomicBool,
    merged: Mutex<Tally>,
}

/// Drives `target` with `s` until `limit`, printing progress each second.
pub fn drive(target: &str, s: &Scenario, limit: &Limit, progress: bool) -> Tally {
    let env = Arc::new(EnvBuilder::new().cq_count(2).name_prefix("bench-client").build());
    let started = Instant::now();
    let shared = Arc::new(Progress::default());
    let per_connection = (s.concurrency / s.connections).max(1);
    let max_calls = match limit {
        Limit::Calls(n) => *n,
        Limit::Time(_) => u64::MAX,
    };
    let threads: Vec<_> = (0..s.connections)
        .map(|i| {
            // A local subchannel pool gives every connection its own TCP connection.
            let channel = ChannelBuilder::new(env.clone())
                .use_local_subchannel_pool(true)
                .max_receive_message_len(64 << 20)
                .connect(target);
            let client = Client::new(channel);
            let (s, shared) = (s.clone(), shared.clone());
            let in_flight = per_connection + usize::from(i < s.concurrency % s.connections);
            std::thread::spawn(move || {
                let tally = connection(&client, &s, in_flight, max_calls, &shared);
                shared.merged.lock().expect("tally lock").merge(tally);
            })
        })
        .collect();

    let mut last = 0;
    loop {
        let finished = threads.iter().all(|t| t.is_finished());
        if finished {
            break;
        }
        if let Limit::Time(d) = limit {
            if started.elapsed() >= *d {
                shared.stop.store(true, Ordering::Relaxed);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        let now = shared.done.load(Ordering::Relaxed);
        if progress
            && started.elapsed().as_millis() / 1000
                != (started.elapsed() - Duration::from_millis(100)).as_millis() / 1000
        {
            eprint!(
                "\r  {:>5.1}s  {now:>9} calls  {:>9.0} calls/s   ",
                started.elapsed().as_secs_f64(),
                (now - last) as f64
            );
            last = now;
        }
    }
    if progress {
        eprintln!();
    }
    for t in threads {
        let _ = t.join();
    }
    let mut tally = std::mem::take(&mut *shared.merged.lock().expect("tally lock"));
    tally.elapsed = started.elapsed();
    tally
}

/// One connection's calls, `in_flight` at a time, until the run stops or `max_calls` are issued.
fn connection(client: &Client, s: &Scenario, in_flight: usize, max_calls: u64, shared: &Progress) -> Tally {
    let req = request(s);
    let mut tally = Tally {
        latency: Some(Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")),
        ..Tally::default()
    };
    futures::executor::block_on(async {
        let mut calls = FuturesUnordered::new();
        let start_one = |calls: &mut FuturesUnordered<_>| {
            if shared.stop.load(Ordering::Relaxed) || shared.issued.fetch_add(1, Ordering::Relaxed) >= max_calls {
                return;
            }
            let req = &req;
            calls.push(async move {
                let t = Instant::now();
                (one_call(client, s, req).await, t.elapsed())
            });
        };
        for _ in 0..in_flight {
            start_one(&mut calls);
        }
        while let Some((outcome, took)) = calls.next().await {
            match outcome {
                Ok(messages) => {
                    tally.calls += 1;
                    tally.messages += messages;
                    let us = took.as_micros().clamp(1, 60_000_000) as u64;
                    if let Some(h) = tally.latency.as_mut() {
                        let _ = h.record(us);
                    }
                }
                Err(err) => *tally.errors.entry(status_name(&err)).or_default() += 1,
            }
            shared.done.fetch_add(1, Ordering::Relaxed);
            start_one(&mut calls);
        }
    });
    tally
}
