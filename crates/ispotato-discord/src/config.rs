//! Discord settings.

use ispotato_core::prelude::SecretString;
use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shards {
    /// As many as Discord recommends (GET /gateway/bot).
    Auto,
    /// This many shards, all in this process.
    Count(u32),
    /// Shards `first..=last` of `total`, so several processes can share one bot.
    Range { first: u32, last: u32, total: u32 },
}

/// Why a shard setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("discord shards: {0}")]
pub struct ShardsError(String);

impl std::str::FromStr for Shards {
    type Err = ShardsError;

    /// `auto`, a count `N`, or a range of shards `A-B/TOTAL` (`A/TOTAL` for one shard).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let malformed = || ShardsError(format!("'{text}' is not auto, N or A-B/TOTAL"));
        let number = |s: &str| s.trim().parse::<u32>().map_err(|_| malformed());
        if text.eq_ignore_ascii_case("auto") {
            return Ok(Self::Auto);
        }
        if let Some((range, total)) = text.split_once('/') {
            let (first, last) = range.split_once('-').unwrap_or((range, range));
            let (first, last, total) = (number(first)?, number(last)?, number(total)?);
            if first > last || last >= total {
                return Err(ShardsError(format!(
                    "the range {first}-{last} must lie within 0..{total}"
                )));
            }
            return Ok(Self::Range { first, last, total });
        }
        match number(text)? {
            0 => Err(ShardsError("the count must be at least 1".into())),
            n => Ok(Self::Count(n)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// The bot token (never logged).
    pub token: SecretString,
    /// REST base (or proxy) URL instead of https://discord.com; the gateway URL then comes
    /// from that API.
    pub api_url: Option<Url>,
    /// Register commands to this guild only (instant, for testing) instead of globally.
    pub guild_id: Option<u64>,
    pub shards: Shards,
    /// Channels where every posted image is judged (needs the message-content intent).
    pub auto_channels: Vec<u64>,
}

impl DiscordConfig {
    pub fn new(token: SecretString) -> Self {
        Self {
            token,
            api_url: None,
            guild_id: None,
            shards: Shards::Auto,
            auto_channels: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_settings_parse() {
        assert_eq!("auto".parse(), Ok(Shards::Auto));
        assert_eq!("4".parse(), Ok(Shards::Count(4)));
        assert_eq!(
            "0-1/4".parse(),
            Ok(Shards::Range {
                first: 0,
                last: 1,
                total: 4
            })
        );
        assert_eq!(
            "2/4".parse(),
            Ok(Shards::Range {
                first: 2,
                last: 2,
                total: 4
            })
        );
        assert!("0".parse::<Shards>().is_err());
        assert!("3-5/4".parse::<Shards>().is_err());
        assert!("many".parse::<Shards>().is_err());
    }
}
