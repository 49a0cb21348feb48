//! The trivia service with a real store: no repeats per chat across restarts, topics, reloads
//! that keep the old deck on error, and the file watcher.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ispotato_core::store::{SqliteStore, Store, StoreConfig};
use ispotato_core::trivia::{TriviaError, TriviaService};

fn setup(name: &str, facts: usize) -> (PathBuf, Arc<dyn Store>) {
    let dir = std::env::temp_dir().join(format!("ispotato-trivia-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("trivia")).unwrap();
    std::fs::write(dir.join("trivia/facts.yaml"), deck_yaml(facts, "")).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(StoreConfig::new(dir.join("db.sqlite"))).unwrap());
    (dir.join("trivia"), store)
}

fn deck_yaml(n: usize, suffix: &str) -> String {
    (0..n)
        .map(|i| {
            let topic = if i % 2 == 0 { "history" } else { "botany" };
            // Distinct vocabulary per fact, so none is a near-duplicate of another.
            let text = format!("Spud{i}{suffix} tuber{i}x andes{i}y blight{i}z.");
            format!("- id: f{i}{suffix}\n  topic: {topic}\n  text: \"{text}\"\n  source: {{title: \"T\", url: \"https://example.org/{i}\"}}\n")
        })
        .collect()
}

#[test]
fn no_repeats_per_chat_even_across_restarts() {
    let (trivia, store) = setup("norepeat", 10);
    let mut seen = Vec::new();
    for restart in 0..2 {
        let service = TriviaService::load(&trivia, store.clone()).unwrap();
        for _ in 0..5 {
            seen.push(service.next_fact("discord:chan1", None).unwrap().id);
        }
        let _ = restart;
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        10,
        "ten draws over a restart cover all ten facts: {seen:?}"
    );
    // The next pass starts with a different fact than the last one served.
    let service = TriviaService::load(&trivia, store.clone()).unwrap();
    assert_ne!(service.next_fact("discord:chan1", None).unwrap().id, seen[9]);
    // Another chat has its own deck.
    let other: Vec<String> = (0..10)
        .map(|_| service.next_fact("telegram:9", None).unwrap().id)
        .collect();
    let mut o = other.clone();
    o.sort();
    o.dedup();
    assert_eq!(o.len(), 10);
}

#[test]
fn topics_filter_and_unknown_topics_list_the_choices() {
    let (trivia, store) = setup("topics", 10);
    let service = TriviaService::load(&trivia, store).unwrap();
    let history: Vec<String> = (0..5)
        .map(|_| service.next_fact("c", Some("History")).unwrap().topic)
        .collect();
    assert!(history.iter().all(|t| t == "history"));
    match service.next_fact("c", Some("gossip")) {
        Err(TriviaError::UnknownTopic { topics, .. }) => assert_eq!(topics, vec!["botany", "history"]),
        other => panic!("{other:?}"),
    }
    let err = service.next_fact("c", Some("gossip")).unwrap_err().to_string();
    assert_eq!(err, "I don't know the topic 'gossip'. Try one of: botany, history");
}

#[test]
fn a_bad_deck_fails_at_start_and_a_bad_reload_keeps_the_old_deck() {
    let (trivia, store) = setup("reload", 6);
    let service = TriviaService::load(&trivia, store.clone()).unwrap();
    std::fs::write(trivia.join("facts.yaml"), "- id: broken\n  topic: nonsense\n").unwrap();
    let errors = service.reload().unwrap_err();
    assert!(errors.to_string().contains("facts.yaml:1"), "{errors}");
    assert_eq!(service.deck().len(), 6, "old deck still serving");
    assert!(service.next_fact("c", None).is_ok());
    assert!(
        TriviaService::load(&trivia, store).is_err(),
        "a bad deck at start-up is an error"
    );
    std::fs::write(trivia.join("facts.yaml"), deck_yaml(8, "b")).unwrap();
    assert_eq!(service.reload().unwrap(), 8);
    assert!(service.next_fact("c", None).unwrap().id.ends_with('b'));
}

#[tokio::test]
async fn the_watcher_reloads_changed_files() {
    let (trivia, store) = setup("watch", 4);
    let service = Arc::new(TriviaService::load(&trivia, store).unwrap());
    let task = service.clone().watch(Duration::from_millis(50));
    // Make sure the modification time moves on even on coarse-grained file systems.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(trivia.join("facts.yaml"), deck_yaml(7, "w")).unwrap();
    let mut reloaded = false;
    for _ in 0..100 {
        if service.deck().len() == 7 {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
    assert!(reloaded, "deck was not reloaded");
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_even_when_the_file_time_did_not_change() {
    let (trivia, store) = setup("sighup", 4);
    let file = trivia.join("facts.yaml");
    let service = Arc::new(TriviaService::load(&trivia, store).unwrap());
    let task = service.clone().watch(Duration::from_secs(3600));
    // Let the watcher install its SIGHUP handler before signalling.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    std::fs::write(&file, deck_yaml(5, "h")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut reloaded = false;
    for _ in 0..100 {
        if service.deck().len() == 5 {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
    assert!(reloaded, "SIGHUP did not reload the deck");
}
