//! The event handler: commands (acknowledged within Discord's 3 s by deferring before any
//! download), buttons, autocomplete and reactions. One `fail` path turns every refusal into a
//! short ephemeral message and a log line.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ispotato_core::ingest::ImageSource;
use ispotato_core::judge::Judged;
use ispotato_core::services::ReplyPlace;
use ispotato_core::services::Services;
use ispotato_core::store::{unix_now, Retraction, Vote, VoteSource};
use serenity::all::{
    async_trait, AutocompleteChoice, CommandDataOptionValue, CommandInteraction, ComponentInteraction, Context,
    CreateAutocompleteResponse, CreateInteractionResponse, CreateInteractionResponseFollowup,
    CreateInteractionResponseMessage, EditInteractionResponse, EventHandler, Interaction, Message, Reaction,
    ReactionType, Ready, UserId,
};

use crate::commands::{self, CONTEXT_MENU, FACT, HELP, IS_POTATO, STATS};
use crate::config::DiscordConfig;
use crate::images::{check_attachment, message_images, ImageLink};
use crate::reply;

pub struct Handler {
    services: Arc<Services>,
    config: DiscordConfig,
    me: OnceLock<UserId>,
}

impl Handler {
    pub fn new(services: Arc<Services>, config: DiscordConfig) -> Self {
        Self {
            services,
            config,
            me: OnceLock::new(),
        }
    }

    fn max_bytes(&self) -> u64 {
        self.services.judge.ingestor().limits().max_bytes
    }

    fn scrub(&self, e: &dyn std::fmt::Display) -> String {
        self.config.token.scrub(&e.to_string())
    }
}

/// Attempts for a Discord call that failed transiently (429 or 5xx).
const ATTEMPTS: usize = 4;

fn transient(e: &serenity::Error) -> Option<Duration> {
    if let serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r)) = e {
        let code = r.status_code.as_u16();
        if code == 429 {
            return Some(Duration::from_secs(1));
        }
        if code >= 500 {
            return Some(Duration::from_millis(300));
        }
    }
    if let serenity::Error::Http(serenity::http::HttpError::Request(_)) = e {
        return Some(Duration::from_millis(300));
    }
    None
}

/// Runs a Discord call again on 429/5xx/network errors, a bounded number of times.
async fn with_retries<T, F, Fut>(what: &str, mut call: F) -> serenity::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = serenity::Result<T>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) => match transient(&e) {
                Some(wait) if attempt < ATTEMPTS => {
                    tracing::warn!(call = what, attempt, "Discord call failed, retrying");
                    tokio::time::sleep(wait * attempt as u32).await;
                    attempt += 1;
                }
                _ => return Err(e),
            },
        }
    }
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        let _ = self.me.set(ready.user.id);
        self.services.telemetry.set_connected("discord", true);
        let registered = match self.config.guild_id {
            Some(guild) => serenity::all::GuildId::new(guild)
                .set_commands(&ctx.http, commands::all())
                .await
                .map(|c| c.len()),
            None => serenity::all::Command::set_global_commands(&ctx.http, commands::all())
                .await
                .map(|c| c.len()),
        };
        match registered {
            Ok(n) => tracing::info!(bot = %ready.user.name, commands = n, "discord bot ready"),
            Err(e) => tracing::error!(error = %self.scrub(&e), "could not register commands"),
        }
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Command(cmd) => self.on_command(&ctx, &cmd).await,
            Interaction::Component(c) => self.on_button(&ctx, &c).await,
            Interaction::Autocomplete(a) => {
                let typed = a.data.autocomplete().map(|o| o.value.to_string()).unwrap_or_default();
                let choices = commands::topic_choices(&typed)
                    .into_iter()
                    .map(|t| AutocompleteChoice::new(t, t))
                    .collect();
                let response =
                    CreateInteractionResponse::Autocomplete(CreateAutocompleteResponse::new().set_choices(choices));
                if let Err(e) = a.create_response(&ctx.http, response).await {
                    tracing::warn!(error = %self.scrub(&e), "autocomplete failed");
                }
            }
            _ => {}
        }
    }

    async fn reaction_add(&self, _ctx: Context, r: Reaction) {
        self.on_reaction(r, true).await;
    }

    async fn reaction_remove(&self, _ctx: Context, r: Reaction) {
        self.on_reaction(r, false).await;
    }

    async fn message(&self, ctx: Context, msg: Message) {
        if msg.author.bot || !self.config.auto_channels.contains(&msg.channel_id.get()) {
            return;
        }
        let images = message_images(&msg, self.max_bytes());
        if images.is_empty() {
            return;
        }
        let user_hash = self.services.hasher.hash("discord", &msg.author.id.to_string());
        if let Err(t) = self.services.admit(&user_hash, images.len()) {
            tracing::info!(reason = "rate_limited", "auto-channel image refused");
            let _ = msg.reply(&ctx.http, format!("Sorry, {t}.")).await;
            return;
        }
        let results = self.judge_all(images).await;
        let text = reply::verdict_text(&results);
        let any = results.iter().any(|(_, r)| r.is_ok());
        let mut builder = serenity::all::CreateMessage::new()
            .content(text)
            .reference_message(&msg);
        if any {
            builder = builder.components(reply::feedback_buttons());
        }
        match with_retries("send", || msg.channel_id.send_message(&ctx.http, builder.clone())).await {
            Ok(sent) => self.after_verdict(&ctx, &sent, &user_hash, &results).await,
            Err(e) => tracing::error!(error = %self.scrub(&e), "could not send a verdict"),
        }
    }
}

impl Handler {
    async fn on_command(&self, ctx: &Context, cmd: &CommandInteraction) {
        match cmd.data.name.as_str() {
            IS_POTATO => {
                let mut images = Vec::new();
                for option in &cmd.data.options {
                    match &option.value {
                        CommandDataOptionValue::Attachment(id) => match cmd.data.resolved.attachments.get(id) {
                            Some(a) => match check_attachment(a, self.max_bytes()) {
                                Ok(link) => images.push(Ok(link)),
                                Err(e) => return self.fail(ctx, cmd, false, &e, "attachment_refused").await,
                            },
                            None => {
                                return self
                                    .fail(ctx, cmd, false, "I couldn't find that attachment", "missing")
                                    .await
                            }
                        },
                        CommandDataOptionValue::String(url) => images.push(Ok(ImageLink {
                            name: "link".into(),
                            url: url.trim().to_string(),
                        })),
                        _ => {}
                    }
                }
                if images.is_empty() {
                    return self
                        .fail(ctx, cmd, false, "attach an image or give a link", "no_image")
                        .await;
                }
                self.judge_command(ctx, cmd, images).await;
            }
            CONTEXT_MENU => {
                let target = cmd
                    .data
                    .target_id
                    .and_then(|id| cmd.data.resolved.messages.get(&id.to_message_id()));
                let images = target.map(|m| message_images(m, self.max_bytes())).unwrap_or_default();
                if images.is_empty() {
                    return self
                        .fail(ctx, cmd, false, "I don't see an image in that message", "no_image")
                        .await;
                }
                self.judge_command(ctx, cmd, images).await;
            }
            FACT => {
                let topic = cmd
                    .data
                    .options
                    .iter()
                    .find(|o| o.name == "topic")
                    .and_then(|o| o.value.as_str())
                    .map(str::to_string);
                let services = self.services.clone();
                let key = format!("discord:{}", cmd.channel_id);
                let fact = tokio::task::spawn_blocking(move || services.trivia.next_fact(&key, topic.as_deref())).await;
                match fact {
                    Ok(Ok(f)) => {
                        let text = format!("🥔 {}\n-# Source: [{}](<{}>)", f.text, f.source.title, f.source.url);
                        self.respond(ctx, cmd, text, false).await;
                    }
                    Ok(Err(e)) => self.fail(ctx, cmd, false, &e.to_string(), "unknown_topic").await,
                    Err(e) => {
                        tracing::error!(error = %e, "fact task failed");
                        self.fail(ctx, cmd, false, "I couldn't find a fact just now", "internal")
                            .await
                    }
                }
            }
            STATS => {
                let store = self.services.store.clone();
                match tokio::task::spawn_blocking(move || store.stats(None)).await {
                    Ok(Ok(stats)) => {
                        self.respond(ctx, cmd, ispotato_core::stats::render(&stats, "so far"), false)
                            .await
                    }
                    other => {
                        tracing::error!(result = ?other.err(), "stats failed");
                        self.fail(ctx, cmd, false, "I couldn't read my stats just now", "internal")
                            .await
                    }
                }
            }
            HELP => self.respond(ctx, cmd, commands::HELP_TEXT.to_string(), true).await,
            other => tracing::warn!(command = other, "unknown command"),
        }
    }

    async fn respond(&self, ctx: &Context, cmd: &CommandInteraction, text: String, ephemeral: bool) {
        let msg = CreateInteractionResponseMessage::new()
            .content(text)
            .ephemeral(ephemeral);
        if let Err(e) = with_retries("respond", || {
            cmd.create_response(&ctx.http, CreateInteractionResponse::Message(msg.clone()))
        })
        .await
        {
            tracing::error!(error = %self.scrub(&e), "could not answer a command");
        }
    }

    /// The central error path: a short ephemeral message for the user, a log line for us.
    async fn fail(&self, ctx: &Context, cmd: &CommandInteraction, deferred: bool, message: &str, reason: &str) {
        tracing::info!(command = %cmd.data.name, reason, "request refused: {message}");
        self.services.telemetry.rejected("discord", reason);
        let text = format!("Sorry, {message}.");
        let result = if deferred {
            // The deferred reply is public; replace it with an ephemeral follow-up.
            let _ = cmd.delete_response(&ctx.http).await;
            let follow = CreateInteractionResponseFollowup::new().content(text).ephemeral(true);
            with_retries("followup", || cmd.create_followup(&ctx.http, follow.clone()))
                .await
                .map(|_| ())
        } else {
            let msg = CreateInteractionResponseMessage::new().content(text).ephemeral(true);
            with_retries("respond", || {
                cmd.create_response(&ctx.http, CreateInteractionResponse::Message(msg.clone()))
            })
            .await
        };
        if let Err(e) = result {
            tracing::error!(error = %self.scrub(&e), "could not tell the user about a failure");
        }
    }

    async fn judge_all(
        &self,
        images: Vec<Result<ImageLink, (String, String)>>,
    ) -> Vec<(String, Result<Judged, String>)> {
        let mut results = Vec::with_capacity(images.len());
        for image in images {
            match image {
                Ok(link) => {
                    let outcome = self.services.judge.judge(ImageSource::Url(link.url.clone())).await;
                    if let Err(e) = &outcome {
                        tracing::info!(reason = e.reason(), "image refused");
                        self.services.telemetry.rejected("discord", e.reason());
                    }
                    results.push((link.name, outcome.map_err(|e| e.to_string())));
                }
                Err((name, e)) => results.push((name, Err(e))),
            }
        }
        results
    }

    async fn judge_command(
        &self,
        ctx: &Context,
        cmd: &CommandInteraction,
        images: Vec<Result<ImageLink, (String, String)>>,
    ) {
        let user_hash = self.services.hasher.hash("discord", &cmd.user.id.to_string());
        if let Err(t) = self.services.admit(&user_hash, images.len()) {
            return self.fail(ctx, cmd, false, &t.to_string(), "rate_limited").await;
        }
        // Acknowledge within Discord's 3 s before downloading anything.
        if let Err(e) = with_retries("defer", || cmd.defer(&ctx.http)).await {
            tracing::error!(error = %self.scrub(&e), "could not defer");
            return;
        }
        let results = self.judge_all(images).await;
        if results.iter().all(|(_, r)| r.is_err()) {
            let message = match results.as_slice() {
                [(_, Err(e))] => e.clone(),
                _ => "I couldn't judge any of those images".into(),
            };
            return self.fail(ctx, cmd, true, &message, "no_verdict").await;
        }
        let edit = EditInteractionResponse::new()
            .content(reply::verdict_text(&results))
            .components(reply::feedback_buttons());
        match with_retries("edit", || cmd.edit_response(&ctx.http, edit.clone())).await {
            Ok(sent) => self.after_verdict(ctx, &sent, &user_hash, &results).await,
            Err(e) => tracing::error!(error = %self.scrub(&e), "could not deliver the verdict"),
        }
    }

    /// Pre-adds the vote reactions and stores the verdicts under the reply's message id.
    async fn after_verdict(
        &self,
        ctx: &Context,
        sent: &Message,
        user_hash: &str,
        results: &[(String, Result<Judged, String>)],
    ) {
        for emoji in [reply::THUMBS_UP, reply::THUMBS_DOWN] {
            let reaction = ReactionType::Unicode(emoji.into());
            if let Err(e) = with_retries("react", || sent.react(&ctx.http, reaction.clone())).await {
                tracing::warn!(error = %self.scrub(&e), "could not add a vote reaction");
            }
        }
        let place = ReplyPlace {
            platform: "discord",
            chat_id: sent.channel_id.to_string(),
            message_id: sent.id.to_string(),
        };
        let results: Vec<Result<Judged, String>> = results.iter().map(|(_, r)| r.clone()).collect();
        self.services.record_verdicts(&place, user_hash, &results).await;
    }

    async fn on_button(&self, ctx: &Context, c: &ComponentInteraction) {
        let agree = match c.data.custom_id.as_str() {
            reply::AGREE => true,
            reply::DISAGREE => false,
            _ => return,
        };
        let vote = Vote {
            platform: "discord".into(),
            chat_id: c.channel_id.to_string(),
            message_id: c.message.id.to_string(),
            user_hash: self.services.hasher.hash("discord", &c.user.id.to_string()),
            is_bot: c.user.bot,
            agree,
            source: VoteSource::Button,
            emoji: None,
            created_at: unix_now(),
        };
        let text = self.services.vote(vote).await;
        let msg = CreateInteractionResponseMessage::new().content(text).ephemeral(true);
        if let Err(e) = with_retries("button", || {
            c.create_response(&ctx.http, CreateInteractionResponse::Message(msg.clone()))
        })
        .await
        {
            tracing::warn!(error = %self.scrub(&e), "could not answer a button press");
        }
    }

    async fn on_reaction(&self, r: Reaction, added: bool) {
        let emoji = match &r.emoji {
            ReactionType::Unicode(e) if e == reply::THUMBS_UP || e == reply::THUMBS_DOWN => e.clone(),
            _ => return,
        };
        let Some(user) = r.user_id else { return };
        let is_bot = Some(user) == self.me.get().copied() || r.member.as_ref().is_some_and(|m| m.user.bot);
        let user_hash = self.services.hasher.hash("discord", &user.to_string());
        let (chat_id, message_id) = (r.channel_id.to_string(), r.message_id.to_string());
        if added {
            let vote = Vote {
                platform: "discord".into(),
                chat_id,
                message_id,
                user_hash,
                is_bot,
                agree: emoji == reply::THUMBS_UP,
                source: VoteSource::Reaction,
                emoji: Some(emoji),
                created_at: unix_now(),
            };
            self.services.vote(vote).await;
        } else {
            let retraction = Retraction {
                platform: "discord".into(),
                chat_id,
                message_id,
                user_hash,
                is_bot,
                emoji: Some(emoji),
            };
            self.services.retract(retraction).await;
        }
    }
}
