//! A fixed set of named OS threads that run CPU-bound jobs (decode + inference).
//!
//! Inference runs on these threads rather than on tokio's blocking pool because the work leaves
//! per-thread state behind: tract keeps thread-local scratch buffers and glibc keeps per-thread
//! allocation arenas. Spread over a pool of up to 8 changing threads that state multiplied the
//! bot's resident memory under load; pinned to `n` long-lived threads it stays at `n` copies.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Threads stop when the last handle is dropped.
#[derive(Clone)]
pub struct WorkerPool {
    jobs: Sender<Job>,
    threads: usize,
}

/// The job got no answer: the pool has no threads (they could not be started) or the job panicked.
#[derive(Debug, thiserror::Error)]
#[error("the inference worker stopped before answering")]
pub struct PoolStopped;

impl WorkerPool {
    /// Starts `threads` (at least one) threads named `{name}-{i}`.
    pub fn new(name: &str, threads: usize) -> Self {
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut started = 0;
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            match std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || work(&queue))
            {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "could not start an inference worker thread"),
            }
        }
        Self { jobs, threads: started }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `job` on one of the threads and returns its result. A job that panics is reported as
    /// a dropped result (`Err`) and does not take its thread down.
    pub async fn run<T, F>(&self, job: F) -> Result<T, PoolStopped>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(job());
            }))
            .map_err(|_| PoolStopped)?;
        result.await.map_err(|_| PoolStopped)
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = match queue.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return, // every handle dropped
        };
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("an inference job panicked; the worker carries on");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_named_threads_and_a_panic_does_not_kill_a_worker() {
        let pool = WorkerPool::new("test-worker", 2);
        assert_eq!(pool.threads(), 2);
        let name = pool
            .run(|| std::thread::current().name().map(str::to_string))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("test-worker-"));
        assert!(pool.run(|| panic!("boom")).await.is_err());
        // Both threads still serve after a panic.
        let mut names = std::collections::HashSet::new();
        for _ in 0..50 {
            let p = pool.clone();
            names.insert(
                p.run(|| {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    std::thread::current().name().map(str::to_string)
                })
                .await
                .unwrap(),
            );
        }
        assert!(!names.is_empty() && names.len() <= 2, "{names:?}");
        assert_eq!(pool.run(|| 41 + 1).await.unwrap(), 42);
    }
}
