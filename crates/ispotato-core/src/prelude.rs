//! What a front end needs, in one import: build the [`Services`] with [`compose::build`], hand
//! them each message's images as [`NamedImage`]s, and turn each [`ImageOutcome`] or
//! [`Refusal`] into the platform's reply ([`words`] for chat text, [`answer`] for JSON).

pub use crate::model::{Kind, Label, Verdict};
pub use crate::secret::SecretString;
pub use crate::serve::compose::{self, ServicesConfig};
pub use crate::serve::{
    answer, words, ImageInput, ImageOutcome, Judged, Judgement, NamedImage, Platform, Quota, Refusal, ReplyPlace,
    Services, Voter,
};
pub use crate::store::VoteSource;
pub use crate::trivia::{Fact, TOPICS};
