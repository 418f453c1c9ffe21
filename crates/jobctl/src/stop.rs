//! Interruption of the commands that hold locks (installed when one starts, so Ctrl-C at a
//! prompt still quits at once): the first Ctrl-C (SIGINT) or SIGTERM asks the command to stop at
//! the next safe point (after the message in hand is settled, with every lock it holds
//! released); a second one exits at once (130), leaving any lock to lapse on its own.

use tokio::sync::watch;

/// Whether a stop was asked for. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Listen for SIGINT and SIGTERM.
    pub fn install() -> Self {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            signal().await;
            let _ = tx.send(true);
            eprintln!(
                "jobctl: stopping after the message in hand and releasing every lock held (again to quit at once; held locks then lapse by themselves)"
            );
            signal().await;
            std::process::exit(130);
        });
        Self(rx)
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when a stop is asked for.
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|stop| *stop).await;
        if !*rx.borrow() {
            // The sender is gone without a stop: never resolve.
            std::future::pending::<()>().await;
        }
    }
}

async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
