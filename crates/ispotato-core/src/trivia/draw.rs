//! Drawing facts without repeats: each chat (and topic) goes through a shuffled deck, every
//! fact once, then starts a new shuffle whose first fact is not the one just served.

use rand::seq::IndexedRandom;
use rand::Rng;

use crate::store::DrawState;

/// Picks the next fact id from `ids` (the facts currently in the deck for this topic) and
/// updates `state`. Picking uniformly among the unserved facts is a shuffle drawn lazily, which
/// also copes with facts added or removed by a reload. Returns `None` when `ids` is empty.
pub fn draw<R: Rng + ?Sized>(ids: &[&str], state: &mut DrawState, rng: &mut R) -> Option<String> {
    if ids.is_empty() {
        return None;
    }
    let mut unserved: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| !state.served.iter().any(|s| s == id))
        .collect();
    if unserved.is_empty() {
        // New pass: everything again, except the fact just served when there is a choice.
        state.served.clear();
        unserved = ids
            .iter()
            .copied()
            .filter(|id| ids.len() == 1 || state.last.as_deref() != Some(id))
            .collect();
    }
    let pick = unserved.choose(rng)?.to_string();
    state.served.push(pick.clone());
    state.last = Some(pick.clone());
    Some(pick)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn no_repeat_until_all_served_and_no_back_to_back_across_passes() {
        let ids: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut state = DrawState::default();
        let mut previous: Option<String> = None;
        for pass in 0..50 {
            let mut seen = std::collections::HashSet::new();
            for k in 0..20 {
                let id = draw(&refs, &mut state, &mut rng).unwrap();
                assert!(seen.insert(id.clone()), "pass {pass}: {id} repeated");
                if k == 0 {
                    assert_ne!(Some(&id), previous.as_ref(), "pass {pass} starts with the last fact");
                }
                previous = Some(id);
            }
            assert_eq!(seen.len(), 20);
        }
    }

    #[test]
    fn order_is_shuffled_and_reloads_are_handled() {
        let refs = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let mut firsts = std::collections::HashSet::new();
        for seed in 0..20 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            firsts.insert(draw(&refs, &mut DrawState::default(), &mut rng).unwrap());
        }
        assert!(firsts.len() > 3, "different chats start at different facts");

        // A fact removed by a reload is never served; a new one joins the current pass.
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut state = DrawState {
            served: vec!["a".into(), "gone".into()],
            last: Some("gone".into()),
        };
        let now = ["a", "b", "new"];
        let mut got = vec![
            draw(&now, &mut state, &mut rng).unwrap(),
            draw(&now, &mut state, &mut rng).unwrap(),
        ];
        got.sort();
        assert_eq!(got, vec!["b", "new"]);
        assert!(draw(&[], &mut state, &mut rng).is_none());
        let mut single = DrawState::default();
        assert_eq!(draw(&["x"], &mut single, &mut rng).as_deref(), Some("x"));
        assert_eq!(draw(&["x"], &mut single, &mut rng).as_deref(), Some("x"));
    }
}
