//! A fixed set of named OS threads that run CPU-bound jobs (decode + inference).
//!
//! Inference runs on these threads rather than on tokio's blocking pool because the work leaves
//! per-thread state behind: tract keeps thread-local scratch buffers and glibc keeps per-thread
//! allocation arenas. Spread over a pool of up to 8 changing threads that state multiplied the
//! bot's resident memory under load; pinned to `n` long-lived threads it stays at `n` copies.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Jobs waiting, in lanes (one per user), served round-robin: a lane with many jobs waiting
/// takes one turn in each round, so one user's pile of slow images delays another user's image
/// by at most one job per busy lane, not by the whole pile.
#[derive(Default)]
struct Lanes {
    waiting: VecDeque<(String, VecDeque<Job>)>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    lanes: Mutex<Lanes>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Lanes> {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Closes the lanes when the last pool handle is dropped, so the threads end.
struct Closer(Arc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.ready.notify_all();
    }
}

#[derive(Clone)]
pub struct WorkerPool {
    shared: Arc<Shared>,
    _closer: Arc<Closer>,
    threads: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("the inference worker stopped before answering")]
pub struct PoolStopped;

impl WorkerPool {
    pub fn new(name: &str, threads: usize) -> Self {
        let shared = Arc::new(Shared::default());
        let mut started = 0;
        for i in 0..threads.max(1) {
            let shared = shared.clone();
            match std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || work(&shared))
            {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "could not start an inference worker thread"),
            }
        }
        Self {
            _closer: Arc::new(Closer(shared.clone())),
            shared,
            threads: started,
        }
    }

    #[cfg(test)]
    fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `job` on a worker thread, in the shared lane.
    #[cfg(test)]
    async fn run<T, F>(&self, job: F) -> Result<T, PoolStopped>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.run_in_lane("", job).await
    }

    /// Runs `job` on a worker thread, in `lane`'s turn (lanes are served round-robin).
    pub async fn run_in_lane<T, F>(&self, lane: &str, job: F) -> Result<T, PoolStopped>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(job());
        });
        {
            let mut lanes = self.shared.lock();
            if lanes.closed || self.threads == 0 {
                return Err(PoolStopped);
            }
            match lanes.waiting.iter_mut().find(|(name, _)| name == lane) {
                Some((_, jobs)) => jobs.push_back(job),
                None => lanes.waiting.push_back((lane.to_string(), VecDeque::from([job]))),
            }
        }
        self.shared.ready.notify_one();
        result.await.map_err(|_| PoolStopped)
    }
}

/// Takes the next lane's first job; the lane goes to the back of the round if it has more.
fn next_job(shared: &Shared) -> Option<Job> {
    let mut lanes = shared.lock();
    loop {
        if let Some((lane, mut jobs)) = lanes.waiting.pop_front() {
            let job = jobs.pop_front();
            if !jobs.is_empty() {
                lanes.waiting.push_back((lane, jobs));
            }
            if job.is_some() {
                return job;
            }
            continue;
        }
        if lanes.closed {
            return None;
        }
        lanes = shared.ready.wait(lanes).unwrap_or_else(|p| p.into_inner());
    }
}

fn work(shared: &Shared) {
    while let Some(job) = next_job(shared) {
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lanes_take_turns_so_one_pile_does_not_hold_up_everyone() {
        let pool = WorkerPool::new("fair-worker", 1);
        let order = Arc::new(Mutex::new(Vec::new()));
        // Hold the only worker while the piles build up.
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(move || gate.recv().ok()).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut waiting = Vec::new();
        for (lane, n) in [("hostile", 6), ("normal", 1), ("other", 1)] {
            for i in 0..n {
                let (pool, order) = (pool.clone(), order.clone());
                waiting.push(tokio::spawn(async move {
                    pool.run_in_lane(lane, move || order.lock().unwrap().push(format!("{lane}{i}")))
                        .await
                }));
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        for w in waiting {
            w.await.unwrap().unwrap();
        }
        let order = order.lock().unwrap().clone();
        // Queued after six hostile jobs, the other lanes still run second and third.
        assert_eq!(&order[..3], ["hostile0", "normal0", "other0"], "{order:?}");
        assert_eq!(order.len(), 8);
    }

    #[tokio::test]
    async fn threads_end_when_the_last_handle_is_dropped() {
        let pool = WorkerPool::new("closing-worker", 1);
        let weak = Arc::downgrade(&pool.shared);
        assert_eq!(pool.run(|| 1).await.unwrap(), 1);
        drop(pool);
        for _ in 0..100 {
            if weak.strong_count() == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the worker thread still holds the lanes");
    }
}
