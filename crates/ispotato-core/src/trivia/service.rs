//! The trivia service the front ends share: the current deck (swapped atomically on reload),
//! per-chat draws whose state lives in the store, and a watcher for file changes and SIGHUP.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use super::deck::{deck_files, load_deck, Deck, DeckErrors, Fact};
use super::draw::draw;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum TriviaError {
    #[error("I don't know the topic '{topic}'. Try one of: {}", .topics.join(", "))]
    UnknownTopic { topic: String, topics: Vec<String> },
    #[error("the trivia deck is empty")]
    Empty,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct TriviaService {
    path: PathBuf,
    deck: RwLock<Arc<Deck>>,
    store: Arc<dyn Store>,
}

impl TriviaService {
    /// Loads the deck at `path` (a YAML file or a folder of them). A bad deck is an error here:
    /// start-up must not go on without facts.
    pub fn load(path: &Path, store: Arc<dyn Store>) -> Result<Self, DeckErrors> {
        let deck = load_deck(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            deck: RwLock::new(Arc::new(deck)),
            store,
        })
    }

    pub fn deck(&self) -> Arc<Deck> {
        self.deck.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-reads the deck. On success the new deck replaces the old one atomically; on failure the
    /// old deck keeps serving and the problems are returned (and logged).
    pub fn reload(&self) -> Result<usize, DeckErrors> {
        match load_deck(&self.path) {
            Ok(deck) => {
                let n = deck.len();
                *self.deck.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(deck);
                tracing::info!(facts = n, path = %self.path.display(), "trivia deck reloaded");
                Ok(n)
            }
            Err(errors) => {
                tracing::error!(path = %self.path.display(), problems = errors.0.len(), "trivia reload refused, keeping the old deck: {errors}");
                Err(errors)
            }
        }
    }

    /// Serves the next fact for `chat_key` (e.g. "discord:1234"), optionally from one topic.
    /// Blocking (store access): call from a blocking thread in async code.
    pub fn next_fact(&self, chat_key: &str, topic: Option<&str>) -> Result<Fact, TriviaError> {
        let deck = self.deck();
        let topic = topic.map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty());
        if let Some(t) = &topic {
            if !deck.topics().contains_key(t.as_str()) {
                return Err(TriviaError::UnknownTopic {
                    topic: t.clone(),
                    topics: deck.topics().keys().map(|k| k.to_string()).collect(),
                });
            }
        }
        let ids = deck.ids(topic.as_deref());
        let key = format!("{chat_key}|{}", topic.as_deref().unwrap_or("*"));
        let id = self
            .store
            .draw(&key, &mut |state| draw(&ids, state, &mut rand::rng()))?
            .ok_or(TriviaError::Empty)?;
        deck.get(&id).cloned().ok_or(TriviaError::Empty)
    }

    /// A fact about `answer` (`sweet_potato`, `potato_dish`) for the reply that names it, chosen
    /// by `image_sha256` (a hex digest): the same photo gets the same fact, different photos
    /// spread over the deck. No store access. `None` when the deck has no fact about it.
    pub fn fact_about(&self, answer: &str, image_sha256: &str) -> Option<Fact> {
        let deck = self.deck();
        let ids = deck.ids_about(answer);
        if ids.is_empty() {
            return None;
        }
        let seed = image_sha256
            .get(..15)
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .unwrap_or(0);
        deck.get(ids[(seed % ids.len() as u64) as usize]).cloned()
    }

    /// Newest modification time among the deck's files.
    fn modified(&self) -> Option<SystemTime> {
        deck_files(&self.path)
            .ok()?
            .iter()
            .filter_map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
            .max()
    }

    /// Reloads the deck whenever its files change (checked every `poll`) or the process gets
    /// SIGHUP. Runs until the returned task is aborted.
    pub fn watch(self: Arc<Self>, poll: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut seen = self.modified();
            #[cfg(unix)]
            let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            loop {
                #[cfg(unix)]
                let hup = async {
                    match hangup.as_mut() {
                        Some(s) => s.recv().await.is_some(),
                        None => std::future::pending().await,
                    }
                };
                #[cfg(not(unix))]
                let hup = std::future::pending::<bool>();
                let signalled = tokio::select! {
                    got = hup => got,
                    _ = tokio::time::sleep(poll) => false,
                };
                let now = self.modified();
                if signalled || now != seen {
                    seen = now;
                    let me = self.clone();
                    let _ = tokio::task::spawn_blocking(move || me.reload()).await;
                }
            }
        })
    }
}
