//! Which database the store lives in, decided by the setting's form: a `postgres://` (or
//! `postgresql://`) URL is a PostgreSQL server, anything else the path of a SQLite file.
//!
//! A URL is parsed once, here, into what the PostgreSQL backend needs; its password is kept as a
//! [`SecretString`] and never shown: [`PostgresUrl`]'s `Display` is the URL without it.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::secret::SecretString;

#[derive(Debug, Clone, PartialEq)]
pub enum DatabaseTarget {
    Sqlite(PathBuf),
    Postgres(PostgresUrl),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TargetError {
    #[error("the database URL is not a valid URL: {0}")]
    Url(String),
    #[error("the database URL names no host")]
    NoHost,
    #[error("the database URL names no database (postgres://user@host/DATABASE)")]
    NoDatabase,
    #[error("the database URL's {key} is not percent-encoded UTF-8")]
    Encoding { key: &'static str },
    #[error("unknown sslmode {0:?} (disable, prefer, require, verify-ca or verify-full)")]
    SslMode(String),
    #[error("connect_timeout must be a whole number of seconds, not {0:?}")]
    ConnectTimeout(String),
    #[error(
        "unsupported database URL parameter {0:?} (supported: sslmode, sslrootcert, connect_timeout, application_name)"
    )]
    Parameter(String),
}

impl FromStr for DatabaseTarget {
    type Err = TargetError;

    fn from_str(setting: &str) -> Result<Self, Self::Err> {
        let lower = setting.get(..13).unwrap_or(setting).to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Ok(Self::Postgres(setting.parse()?))
        } else {
            Ok(Self::Sqlite(PathBuf::from(setting)))
        }
    }
}

impl fmt::Display for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => write!(f, "{url}"),
        }
    }
}

/// How the connection is encrypted, as libpq's `sslmode` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, else plain; the certificate is not checked (libpq's
    /// default; it keeps out eavesdroppers, not impostors).
    Prefer,
    /// TLS or no connection; the certificate is not checked.
    Require,
    /// TLS with the server's certificate checked against the web's roots (and `sslrootcert`)
    /// and its name against the host (`verify-ca` is treated as this stricter mode).
    VerifyFull,
}

impl FromStr for TlsMode {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "disable" => Ok(Self::Disable),
            "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            "verify-ca" | "verify-full" => Ok(Self::VerifyFull),
            other => Err(TargetError::SslMode(other.to_string())),
        }
    }
}

/// A parsed `postgres://user[:password]@host[:port]/database[?params]` URL.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresUrl {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<SecretString>,
    pub database: String,
    pub tls: TlsMode,
    /// Extra certificate authorities (PEM) for `verify-full`.
    pub root_cert: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub application_name: String,
}

impl FromStr for PostgresUrl {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = url::Url::parse(s).map_err(|e| TargetError::Url(e.to_string()))?;
        let decode = |text: &str, key: &'static str| percent_decode(text).ok_or(TargetError::Encoding { key });
        let host = match url.host() {
            Some(url::Host::Ipv6(addr)) => addr.to_string(),
            Some(host) => host.to_string(),
            None => return Err(TargetError::NoHost),
        };
        let database = decode(url.path().trim_start_matches('/'), "database")?;
        if database.is_empty() {
            return Err(TargetError::NoDatabase);
        }
        let user = Some(decode(url.username(), "user")?).filter(|u| !u.is_empty());
        let password = url
            .password()
            .map(|p| decode(p, "password"))
            .transpose()?
            .map(SecretString::new);
        let mut out = Self {
            host,
            port: url.port().unwrap_or(5432),
            user,
            password,
            database,
            tls: TlsMode::Prefer,
            root_cert: None,
            connect_timeout: Duration::from_secs(10),
            application_name: "ispotato".into(),
        };
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "sslmode" => out.tls = value.parse()?,
                "sslrootcert" => out.root_cert = Some(PathBuf::from(value.as_ref())),
                "connect_timeout" => {
                    let seconds: u64 = value
                        .parse()
                        .map_err(|_| TargetError::ConnectTimeout(value.to_string()))?;
                    out.connect_timeout = Duration::from_secs(seconds.max(1));
                }
                "application_name" => out.application_name = value.to_string(),
                other => return Err(TargetError::Parameter(other.to_string())),
            }
        }
        Ok(out)
    }
}

impl fmt::Display for PostgresUrl {
    /// The URL without its password (safe for logs and messages).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let user = self.user.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
        write!(f, "postgres://{user}{host}:{}/{}", self.port, self.database)
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_sqlite_and_a_url_is_postgres() {
        assert_eq!(
            "data/ispotato.db".parse::<DatabaseTarget>(),
            Ok(DatabaseTarget::Sqlite("data/ispotato.db".into()))
        );
        let DatabaseTarget::Postgres(url) = "PostgreSQL://bot:p%40ss@db.internal:6543/potatoes?sslmode=verify-full"
            .parse::<DatabaseTarget>()
            .unwrap()
        else {
            panic!("a URL is PostgreSQL")
        };
        assert_eq!(url.host, "db.internal");
        assert_eq!(url.port, 6543);
        assert_eq!(url.user.as_deref(), Some("bot"));
        assert_eq!(url.password.as_ref().map(|p| p.expose()), Some("p@ss"));
        assert_eq!(url.database, "potatoes");
        assert_eq!(url.tls, TlsMode::VerifyFull);
    }

    #[test]
    fn the_password_never_shows() {
        let target: DatabaseTarget = "postgres://bot:hunter2@127.0.0.1/test".parse().unwrap();
        let shown = format!("{target} {target:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://bot@127.0.0.1:5432/test"), "{shown}");
    }

    #[test]
    fn defaults_and_refusals() {
        let url: PostgresUrl = "postgres://[::1]/db".parse().unwrap();
        assert_eq!((url.host.as_str(), url.port, url.tls), ("::1", 5432, TlsMode::Prefer));
        assert_eq!(url.to_string(), "postgres://[::1]:5432/db");
        assert_eq!("postgres://host".parse::<PostgresUrl>(), Err(TargetError::NoDatabase));
        assert_eq!(
            "postgres://h/db?sslmode=sometimes".parse::<PostgresUrl>(),
            Err(TargetError::SslMode("sometimes".into()))
        );
        assert_eq!(
            "postgres://h/db?pool=9".parse::<PostgresUrl>(),
            Err(TargetError::Parameter("pool".into()))
        );
        assert!("postgres://h/db?connect_timeout=soon".parse::<PostgresUrl>().is_err());
    }
}
