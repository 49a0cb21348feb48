//! A fixed set of named OS threads that run CPU-bound jobs (decode + inference).
//!
//! Inference runs on these threads rather than on tokio's blocking pool because the work leaves
//! per-thread state behind: tract keeps thread-local scratch buffers and glibc keeps per-thread
//! allocation arenas. Spread over a pool of up to 8 changing threads that state multiplied the
//! bot's resident memory under load; pinned to `n` long-lived threads it stays at `n` copies.
//!
//! A job that gains from company ([`Work::room`]) takes along jobs already waiting that no idle
//! worker would start now, so a backlog runs in batches while a lone job never waits for one.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// What the pool's threads run.
pub trait Work: Send + 'static {
    /// How many more waiting jobs this one may take along into the same run (0: it runs alone).
    fn room(&self) -> usize {
        0
    }

    /// Whether `other` may share a run with this job.
    fn joins(&self, _other: &Self) -> bool {
        false
    }

    /// Runs the jobs: the first one taken, then those it took along.
    fn run(jobs: Vec<Self>)
    where
        Self: Sized;
}

/// Jobs waiting, in lanes (one per user), served round-robin: a lane with many jobs waiting
/// takes one turn in each round, so one user's pile of slow images delays another user's image
/// by at most one job per busy lane, not by the whole pile.
struct Lanes<W> {
    waiting: VecDeque<(String, VecDeque<W>)>,
    /// Jobs in `waiting`.
    count: usize,
    /// Workers waiting for a job (woken or not).
    idle: usize,
    closed: bool,
}

impl<W: Work> Lanes<W> {
    /// The next lane's first job; the lane goes to the back of the round if it has more.
    fn take_first(&mut self) -> Option<W> {
        self.take_where(|_| true)
    }

    /// The first job of the first lane (in round order) whose first job passes `accept`.
    fn take_where(&mut self, accept: impl Fn(&W) -> bool) -> Option<W> {
        let at = self
            .waiting
            .iter()
            .position(|(_, jobs)| jobs.front().is_some_and(&accept))?;
        let (lane, mut jobs) = self.waiting.remove(at)?;
        let job = jobs.pop_front();
        if !jobs.is_empty() {
            self.waiting.push_back((lane, jobs));
        }
        self.count -= usize::from(job.is_some());
        job
    }

    /// `first` with the waiting jobs it takes along: as many as it has room for that join it,
    /// leaving one job for each idle worker, so a run never delays a job another worker would
    /// start at once.
    fn batch(&mut self, first: W) -> Vec<W> {
        let room = first.room();
        let mut batch = Vec::with_capacity(1 + room.min(self.count));
        batch.push(first);
        while batch.len() <= room && self.count > self.idle {
            let first = &batch[0];
            match self.take_where(|job| first.joins(job)) {
                Some(job) => batch.push(job),
                None => break,
            }
        }
        batch
    }
}

struct Shared<W> {
    lanes: Mutex<Lanes<W>>,
    ready: Condvar,
}

impl<W> Shared<W> {
    fn new() -> Self {
        Self {
            lanes: Mutex::new(Lanes {
                waiting: VecDeque::new(),
                count: 0,
                idle: 0,
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lanes<W>> {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Closes the lanes when the last pool handle is dropped, so the threads end.
struct Closer<W>(Arc<Shared<W>>);

impl<W> Drop for Closer<W> {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.ready.notify_all();
    }
}

pub struct WorkerPool<W> {
    shared: Arc<Shared<W>>,
    _closer: Arc<Closer<W>>,
    threads: usize,
}

impl<W> Clone for WorkerPool<W> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            _closer: self._closer.clone(),
            threads: self.threads,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the inference worker stopped before answering")]
pub struct PoolStopped;

impl<W: Work> WorkerPool<W> {
    pub fn new(name: &str, threads: usize) -> Self {
        let shared = Arc::new(Shared::new());
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

    /// Queues `job` in `lane`'s turn (lanes are served round-robin), or refuses it if the pool has
    /// stopped (an error then). The job answers its caller itself (e.g. through a channel it carries).
    pub fn submit(&self, lane: &str, job: W) -> Result<(), PoolStopped> {
        {
            let mut lanes = self.shared.lock();
            if lanes.closed || self.threads == 0 {
                return Err(PoolStopped);
            }
            match lanes.waiting.iter_mut().find(|(name, _)| name == lane) {
                Some((_, jobs)) => jobs.push_back(job),
                None => lanes.waiting.push_back((lane.to_string(), VecDeque::from([job]))),
            }
            lanes.count += 1;
        }
        self.shared.ready.notify_one();
        Ok(())
    }
}

/// The next run: the next lane's first job with those it takes along; `None` once closed.
fn next_batch<W: Work>(shared: &Shared<W>) -> Option<Vec<W>> {
    let mut lanes = shared.lock();
    loop {
        if let Some(first) = lanes.take_first() {
            return Some(lanes.batch(first));
        }
        if lanes.closed {
            return None;
        }
        lanes.idle += 1;
        lanes = shared.ready.wait(lanes).unwrap_or_else(|p| p.into_inner());
        lanes.idle -= 1;
    }
}

fn work<W: Work>(shared: &Shared<W>) {
    while let Some(batch) = next_batch(shared) {
        if catch_unwind(AssertUnwindSafe(|| W::run(batch))).is_err() {
            tracing::error!("an inference job panicked; the worker carries on");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A closure, as the tests run them: runs alone.
    pub struct Task(Box<dyn FnOnce() + Send + 'static>);

    impl Task {
        pub fn new(job: impl FnOnce() + Send + 'static) -> Self {
            Self(Box::new(job))
        }
    }

    impl Work for Task {
        fn run(jobs: Vec<Self>) {
            for job in jobs {
                (job.0)();
            }
        }
    }

    impl WorkerPool<Task> {
        /// Runs `job` on a worker thread, in the shared lane.
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
            self.submit(
                lane,
                Task::new(move || {
                    let _ = done.send(job());
                }),
            )?;
            result.await.map_err(|_| PoolStopped)
        }
    }

    #[tokio::test]
    async fn jobs_run_on_the_named_threads_and_a_panic_does_not_kill_a_worker() {
        let pool = WorkerPool::<Task>::new("test-worker", 2);
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
        let pool = WorkerPool::<Task>::new("fair-worker", 1);
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
        let pool = WorkerPool::<Task>::new("closing-worker", 1);
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

    /// A job that records which jobs ran together; `room` says how many it may take along.
    struct Joiner {
        name: &'static str,
        room: usize,
        gate: Option<std::sync::mpsc::Receiver<()>>,
        runs: Arc<Mutex<Vec<Vec<&'static str>>>>,
    }

    impl Work for Joiner {
        fn room(&self) -> usize {
            self.room
        }

        fn joins(&self, other: &Self) -> bool {
            other.room > 0
        }

        fn run(jobs: Vec<Self>) {
            if let Some(gate) = &jobs[0].gate {
                gate.recv().ok();
            }
            let names = jobs.iter().map(|j| j.name).collect();
            jobs[0].runs.lock().unwrap().push(names);
        }
    }

    fn joiner(name: &'static str, room: usize, runs: &Arc<Mutex<Vec<Vec<&'static str>>>>) -> Joiner {
        Joiner {
            name,
            room,
            gate: None,
            runs: runs.clone(),
        }
    }

    async fn until_ran(runs: &Arc<Mutex<Vec<Vec<&'static str>>>>, jobs: usize) -> Vec<Vec<&'static str>> {
        for _ in 0..500 {
            let now = runs.lock().unwrap().clone();
            if now.iter().map(Vec::len).sum::<usize>() >= jobs {
                return now;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the jobs did not run: {:?}", runs.lock().unwrap());
    }

    #[tokio::test]
    async fn a_backlog_runs_in_batches_of_the_room_each_job_has() {
        let pool = WorkerPool::<Joiner>::new("batch-worker", 1);
        let runs = Arc::new(Mutex::new(Vec::new()));
        let (release, gate) = std::sync::mpsc::channel();
        let mut blocker = joiner("blocker", 0, &runs);
        blocker.gate = Some(gate);
        pool.submit("", blocker).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // While the only worker is busy: three jobs that take one more along, one that runs
        // alone (room 0, and nobody takes it along), from different lanes.
        pool.submit("a", joiner("a1", 1, &runs)).unwrap();
        pool.submit("b", joiner("b1", 1, &runs)).unwrap();
        pool.submit("c", joiner("alone", 0, &runs)).unwrap();
        pool.submit("a", joiner("a2", 1, &runs)).unwrap();
        release.send(()).unwrap();
        let runs = until_ran(&runs, 5).await;
        assert_eq!(
            runs,
            [vec!["blocker"], vec!["a1", "b1"], vec!["alone"], vec!["a2"]],
            "the lanes' round order holds and a batch is at most 1 + room"
        );
    }

    #[tokio::test]
    async fn jobs_an_idle_worker_can_start_are_not_taken_along() {
        let pool = WorkerPool::<Joiner>::new("idle-worker", 2);
        let runs = Arc::new(Mutex::new(Vec::new()));
        // Both workers idle: two jobs arriving together run side by side, not as one batch.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        for _ in 0..20 {
            runs.lock().unwrap().clear();
            pool.submit("a", joiner("x", 1, &runs)).unwrap();
            pool.submit("b", joiner("y", 1, &runs)).unwrap();
            let done = until_ran(&runs, 2).await;
            assert!(done.iter().all(|run| run.len() == 1), "{done:?}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}
