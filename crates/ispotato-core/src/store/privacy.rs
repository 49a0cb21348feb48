//! User ids are stored only as keyed hashes: HMAC-SHA256 with a per-install secret salt, so the
//! database alone cannot be matched back to accounts.

use std::io::Write;
use std::path::Path;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Hashes platform user ids with the install's secret salt.
#[derive(Clone)]
pub struct UserHasher {
    salt: Vec<u8>,
}

impl std::fmt::Debug for UserHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserHasher([salt redacted])")
    }
}

impl UserHasher {
    pub fn new(salt: impl Into<Vec<u8>>) -> Self {
        Self { salt: salt.into() }
    }

    /// A new random 32-byte salt.
    pub fn fresh_salt() -> Vec<u8> {
        let mut salt = vec![0u8; 32];
        rand::rng().fill_bytes(&mut salt);
        salt
    }

    /// Loads the salt from `path`, creating a random 32-byte one (file mode 0600) on first use.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(salt) if salt.len() >= 16 => return Ok(Self::new(salt)),
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "salt file {} is shorter than 16 bytes",
                    path.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let salt = Self::fresh_salt();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(&salt)?;
                file.sync_all()?;
                Ok(Self::new(salt))
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Self::new(std::fs::read(path)?)),
            Err(e) => Err(e),
        }
    }

    /// A stable pseudonym for `user_id` on `platform` (32 hex characters).
    pub fn hash(&self, platform: &str, user_id: &str) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.salt) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(platform.as_bytes());
        mac.update(b":");
        mac.update(user_id.as_bytes());
        mac.finalize().into_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable_per_salt_and_platform() {
        let a = UserHasher::new(b"0123456789abcdef".to_vec());
        let b = UserHasher::new(b"fedcba9876543210".to_vec());
        assert_eq!(a.hash("discord", "42"), a.hash("discord", "42"));
        assert_ne!(a.hash("discord", "42"), b.hash("discord", "42"), "the salt matters");
        assert_ne!(
            a.hash("discord", "42"),
            a.hash("telegram", "42"),
            "platforms are separate"
        );
        assert_eq!(a.hash("discord", "42").len(), 32);
        assert!(!a.hash("discord", "42").contains("42"));
        assert!(!format!("{a:?}").contains("0123"));
    }

    #[test]
    fn salt_file_is_created_once_and_private() {
        let dir = std::env::temp_dir().join(format!("ispotato-salt-{}", std::process::id()));
        let path = dir.join("salt");
        let _ = std::fs::remove_dir_all(&dir);
        let first = UserHasher::load_or_create(&path).unwrap();
        let second = UserHasher::load_or_create(&path).unwrap();
        assert_eq!(first.hash("x", "1"), second.hash("x", "1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
