//! SIGINT and SIGTERM while a server (or a supervisor) runs: the first asks for a graceful
//! stop, a second cuts it short. Before and after, the signals do what they did: signal-hook
//! never removes a handler it installed, so without the conditional default below a signal
//! that arrives once the server has returned (or failed to start) would be ignored.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

/// Whether no server is listening for the stop signals, so they take their default action.
fn unclaimed() -> std::io::Result<&'static Arc<AtomicBool>> {
    static UNCLAIMED: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    if let Some(flag) = UNCLAIMED.get() {
        return Ok(flag);
    }
    let flag = Arc::new(AtomicBool::new(true));
    signal_hook::flag::register_conditional_default(SIGINT, flag.clone())?;
    signal_hook::flag::register_conditional_default(SIGTERM, flag.clone())?;
    Ok(UNCLAIMED.get_or_init(|| flag))
}

/// SIGINT, SIGTERM and any extra signals, delivered here instead of acting while this lives.
pub(crate) struct StopSignals {
    signals: Signals,
}

impl StopSignals {
    pub(crate) fn claim(extra: &[i32]) -> std::io::Result<StopSignals> {
        let unclaimed = unclaimed()?;
        let signals = Signals::new([SIGINT, SIGTERM].iter().chain(extra))?;
        unclaimed.store(false, Ordering::SeqCst);
        Ok(StopSignals { signals })
    }

    /// Blocks until the next signal; `None` once [`handle`](Self::handle) has closed it.
    pub(crate) fn wait(&mut self) -> Option<i32> {
        self.signals.forever().next()
    }

    /// What closes the signals from another thread, ending a [`wait`](Self::wait).
    pub(crate) fn handle(&self) -> Handle {
        self.signals.handle()
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        self.signals.handle().close();
        if let Ok(unclaimed) = unclaimed() {
            unclaimed.store(true, Ordering::SeqCst);
        }
    }
}

/// A stop signal's name, for the log.
pub(crate) fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
