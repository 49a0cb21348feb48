//! Serenity's events routed to the commands, the feedback handlers and auto-judging channels.
//! Every command failure goes through one path: [`reply::refuse`].

use ispotato_core::prelude::Refusal;
use serenity::all::{
    async_trait, AutocompleteChoice, CommandInteraction, Context, CreateAutocompleteResponse,
    CreateInteractionResponse, CreateMessage, EventHandler, Interaction, Message, Reaction, Ready,
};

use crate::commands::{self, Failed, CONTEXT_MENU, FACT, HELP, IS_POTATO, STATS};
use crate::state::{Handler, PLATFORM};
use crate::{feedback, media, reply, retry::with_retries, why};

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        let _ = self.me.set(ready.user.id);
        self.services.telemetry.set_connected(PLATFORM.as_str(), true);
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
            Interaction::Component(c) if c.data.custom_id == reply::WHY => why::on_why(self, &ctx, &c).await,
            Interaction::Component(c) => feedback::on_button(self, &ctx, &c).await,
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
        feedback::on_reaction(self, r, true).await;
    }

    async fn reaction_remove(&self, _ctx: Context, r: Reaction) {
        feedback::on_reaction(self, r, false).await;
    }

    async fn message(&self, ctx: Context, msg: Message) {
        if msg.author.bot || !self.config.auto_channels.contains(&msg.channel_id.get()) {
            return;
        }
        let images = media::message_images(&msg, self.max_bytes());
        if images.is_empty() {
            return;
        }
        if let Err(refusal) = self.auto_judge(&ctx, &msg, images).await {
            self.services.report(PLATFORM, "auto-channel", &refusal);
            let _ = msg.reply(&ctx.http, refusal.sorry()).await;
        }
    }
}

impl Handler {
    async fn on_command(&self, ctx: &Context, cmd: &CommandInteraction) {
        let result = match cmd.data.name.as_str() {
            IS_POTATO => commands::is_potato(self, ctx, cmd).await,
            CONTEXT_MENU => commands::context_menu(self, ctx, cmd).await,
            FACT => commands::potato_fact(self, ctx, cmd).await,
            STATS => commands::potato_stats(self, ctx, cmd).await,
            HELP => commands::help(self, ctx, cmd).await,
            other => {
                tracing::warn!(command = other, "unknown command");
                Ok(())
            }
        };
        if let Err(Failed { deferred, refusal }) = result {
            reply::refuse(self, ctx, cmd, deferred, &refusal).await;
        }
    }

    /// An image posted in an auto-judging channel: judged and answered in the channel.
    async fn auto_judge(
        &self,
        ctx: &Context,
        msg: &Message,
        images: Vec<ispotato_core::serve::NamedImage>,
    ) -> Result<(), Refusal> {
        let judgement = self
            .services
            .judge_images(PLATFORM, &msg.author.id.to_string(), images)
            .await?;
        let mut builder = CreateMessage::new()
            .content(reply::verdict_text(&judgement.images))
            .reference_message(msg);
        if judgement.any_verdict() {
            builder = builder.components(reply::feedback_buttons(judgement.any_evidence()));
        }
        match with_retries("send", || msg.channel_id.send_message(&ctx.http, builder.clone())).await {
            Ok(sent) => commands::after_verdict(self, ctx, &sent, &judgement).await,
            Err(e) => tracing::error!(error = %self.scrub(&e), "could not send a verdict"),
        }
        Ok(())
    }
}
