//! Reading local files named by users or operators (configuration, decks, secrets, images to
//! classify) without being led astray: only regular files (a FIFO would block, `/dev/zero`
//! never ends), never more than a cap.

use std::io::Read;
use std::path::Path;

/// Caps for the files IsPotato reads besides images and models.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
pub const MAX_DECK_FILE_BYTES: u64 = 1024 * 1024;
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

fn refuse(path: &Path, why: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{}: {why}", path.display()))
}

/// Opens `path` only when it is a regular file (checked before opening, so a FIFO is never
/// opened) and reads at most `max_bytes` of it; a larger file is an error.
pub fn read_capped(path: &Path, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(refuse(path, "not a regular file".into()));
    }
    if meta.len() > max_bytes {
        return Err(refuse(path, format!("larger than {max_bytes} bytes")));
    }
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max_bytes.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(refuse(path, format!("larger than {max_bytes} bytes")));
    }
    Ok(bytes)
}

/// [`read_capped`] as UTF-8 text.
pub fn read_text_capped(path: &Path, max_bytes: u64) -> std::io::Result<String> {
    String::from_utf8(read_capped(path, max_bytes)?).map_err(|_| refuse(path, "not UTF-8 text".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_cap_are_read() {
        let dir = std::env::temp_dir().join(format!("ispotato-local-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f.txt");
        std::fs::write(&file, "hello").unwrap();
        assert_eq!(read_text_capped(&file, 5).unwrap(), "hello");
        assert!(read_text_capped(&file, 4)
            .unwrap_err()
            .to_string()
            .contains("larger than 4"));
        assert!(read_capped(&dir, 100)
            .unwrap_err()
            .to_string()
            .contains("not a regular file"));
        let zero = read_capped(Path::new("/dev/zero"), 100);
        assert!(zero.unwrap_err().to_string().contains("not a regular file"));
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            // Would block forever in open() if it were opened.
            assert!(read_capped(&fifo, 100)
                .unwrap_err()
                .to_string()
                .contains("not a regular file"));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
