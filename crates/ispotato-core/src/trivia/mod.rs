//! The potato trivia deck: validated facts from `trivia/*.yaml`, drawn per chat without repeats,
//! reloaded on change or SIGHUP.

mod deck;
mod draw;
mod near_duplicates;
mod service;

pub use deck::{
    deck_files, load_deck, parse_deck, Deck, DeckErrors, DeckProblem, Fact, Source, MAX_TEXT_CHARS, TOPICS,
};
pub use draw::draw;
pub use service::{TriviaError, TriviaService};
