//! Hostile HTTP/2 clients (`tests/python/hostile.py`), one attack a test, each run for 4 s
//! against the example server while a well-behaved a3grpc client keeps calling on another
//! connection: PING and SETTINGS floods, zero-length DATA frames, an endless CONTINUATION
//! header block, header blocks of empty fields (CVE-2023-33953), streams the server must
//! reset itself (rapid reset provoked from the server's side), and 10,000 connections, against
//! the server's default connection limit and against a server whose file descriptors run out.
//!
//! Each test asserts what the server owes everybody else while it is attacked: its resident
//! memory grows by less than 32 MiB at its peak; at least 9 in 10 of the good calls made during
//! the attack (and at least 10 are made) are answered within their 2 s deadline; and it still
//! answers once the attacker has gone (the 10,000 connections: a new client is answered).
//!
//! Limits: the attacker is one Python process sharing the machine with the server and the
//! good client, so a flood is as fast as Python writes it (for server_reset and empty_data,
//! Python is slower than the server), not as fast as a network could carry it; memory is
//! sampled every 20 ms, so a shorter spike may go unseen; the attacks are plaintext, on
//! loopback.
//!
//! The attack the engine does not yet withstand is `#[ignore]`d with what it costs on core
//! 1.85.3 (`cargo test --release --test hostile -- --ignored --nocapture` runs it).

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use a3grpc::client::RetryPolicy;
use a3grpc::{BaseClient, CallOptions};
use common::*;

const ATTACK_SECONDS: &str = "4";
/// How much the server's resident memory may grow, at its peak, during an attack.
const GROWTH_LIMIT_KIB: u64 = 32 * 1024;
const GOOD_CALL_DEADLINE: Duration = Duration::from_secs(2);
const RSS_INTERVAL: Duration = Duration::from_millis(20);

/// One attack at a time: two at once would share the CPUs and slow each other's good calls.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A client of the server on a connection of its own, which does not retry, so each failure
/// counts as it is.
fn good_client(port: u16) -> BaseClient {
    BaseClient::builder("127.0.0.1", port).retry(RetryPolicy::never()).build().expect("client builds")
}

/// One good call, answered correctly within its deadline.
fn good_call(client: &BaseClient) -> bool {
    let options = CallOptions::new().timeout(GOOD_CALL_DEADLINE);
    client.call_with(&METHOD_GREETER_SAY_HELLO, &request("good"), &options).is_ok_and(|r| r.message == "Hello good!")
}

/// What one attack cost the server, and what the good client saw meanwhile.
struct Outcome {
    mode: &'static str,
    server: ExampleServer,
    client: BaseClient,
    before: u64,
    peak: u64,
    after: u64,
    answered: u64,
    attempted: u64,
    attacker: String,
    _alone: MutexGuard<'static, ()>,
}

/// Starts the example server and runs `hostile.py` against it in `mode`, while a good client
/// calls it on another connection and the server's memory is sampled.
fn attack(mode: &'static str) -> Outcome {
    attack_server(mode, "", |_| {})
}

/// `attack`, on a server with `extra` conf lines whose command `configure` shapes.
fn attack_server(mode: &'static str, extra: &str, configure: impl FnOnce(&mut Command)) -> Outcome {
    let alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let server = example_server_with(&format!("metrics_port = 0\n{extra}"), configure);
    let pid = server.peer.child.id();
    let client = good_client(server.port);
    assert!(good_call(&client), "the server answers before the attack");
    let before = rss_kib(pid);

    let mut command = python_script("hostile.py");
    command.args(["127.0.0.1", &server.port.to_string(), ATTACK_SECONDS, mode]);
    let mut attacker = Peer::spawn(command);
    // Dropped when the attack is over, which ends the sampler's wait at once.
    let (attacking, over) = crossbeam_channel::bounded::<()>(0);
    let (mut answered, mut attempted) = (0u64, 0u64);
    let peak = std::thread::scope(|scope| {
        let sampler = scope.spawn(move || {
            let mut peak = before;
            while over.recv_timeout(RSS_INTERVAL) == Err(crossbeam_channel::RecvTimeoutError::Timeout) {
                peak = peak.max(rss_kib(pid));
            }
            peak.max(rss_kib(pid))
        });
        while attacker.child.try_wait().expect("poll the attacker").is_none() {
            attempted += 1;
            answered += u64::from(good_call(&client));
        }
        drop(attacking);
        sampler.join().expect("the RSS sampler")
    });
    let attacker = attacker.wait_for("ATTACK ");
    let after = rss_kib(pid);
    let outcome = Outcome { mode, server, client, before, peak, after, answered, attempted, attacker, _alone: alone };
    println!("{outcome}");
    outcome
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Outcome { mode, before, peak, after, answered, attempted, attacker, .. } = self;
        write!(
            f,
            "HOSTILE {mode} before={before} peak={peak} after={after} good={answered}/{attempted} attacker={attacker}"
        )
    }
}

impl Outcome {
    /// A new client is answered once the attacker's connections have closed, and the attack
    /// cost what `assert_survived` allows.
    fn assert_accepts_again(self) {
        let port = self.server.port;
        let accepted = (0..5).any(|_| good_call(&good_client(port)));
        assert!(accepted, "a new client is answered after the connections close: {}", self.attacker);
        self.assert_survived();
    }

    /// The server's memory stayed bounded, it answered the good calls during the attack, and it
    /// answers after it.
    fn assert_survived(self) {
        let (mode, growth) = (self.mode, self.peak.saturating_sub(self.before));
        assert!(report_field(&self.attacker, "connections=") > 0, "{mode}: the attacker connected: {}", self.attacker);
        assert!(growth < GROWTH_LIMIT_KIB, "{mode}: the attack grew the server by {growth} KiB");
        assert!(self.attempted >= 10, "{mode}: only {} good calls were made during the attack", self.attempted);
        assert!(
            self.answered * 10 >= self.attempted * 9,
            "{mode}: {} of {} good calls were answered during the attack",
            self.answered,
            self.attempted
        );
        assert!(good_call(&self.client), "{mode}: the server answers after the attack");
        self.server.peer.terminate();
    }
}

#[test]
fn survives_a_ping_flood() {
    attack("ping_flood").assert_survived();
}

#[test]
fn survives_a_settings_flood_never_acknowledged() {
    attack("settings_flood").assert_survived();
}

#[test]
#[ignore = "#23: +45 to +98 MiB: the core closes a connection after 16,384 empty DATA frames, the attacker reconnects, and the server opens and ends ~25,000 calls a second (glibc, jemalloc and mimalloc alike)"]
fn survives_zero_length_data_frames_on_open_calls() {
    attack("empty_data").assert_survived();
}

#[test]
fn survives_an_endless_continuation_header_block() {
    attack("continuation").assert_survived();
}

#[test]
fn survives_header_blocks_of_zero_length_fields() {
    attack("zero_length_headers").assert_survived();
}

#[test]
fn survives_streams_it_must_reset_itself() {
    attack("server_reset").assert_survived();
}

/// 10,000 connections: the server holds its default 1,000 and closes the others as it
/// accepts them; once they close, it accepts new ones and answers on them.
#[test]
fn accepts_again_once_ten_thousand_connections_close() {
    let outcome = attack("connections");
    assert!(report_field(&outcome.attacker, "closed_by_server=") >= 9_000, "{}", outcome.attacker);
    outcome.assert_accepts_again();
}

/// 10,000 connections against a server allowed more than its open-files limit (256): it runs
/// out of file descriptors, and accepts again once they close.
#[test]
fn accepts_again_once_its_file_descriptors_run_out_and_free() {
    let options = "options = [[\"grpc.max_allowed_incoming_connections\", 100000]]\n";
    let mut outcome = attack_server("connections", options, |command| {
        // SAFETY: between fork and exec, setrlimit is async-signal-safe and touches only the child.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit { rlim_cur: 256, rlim_max: 256 };
                match libc::setrlimit(libc::RLIMIT_NOFILE, &limit) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            });
        }
    });
    outcome.server.peer.wait_for("File descriptor limit reached");
    outcome.assert_accepts_again();
}
