//! Versioned schema migrations, applied in order at start-up. `PRAGMA user_version` records the
//! last one applied. Never edit a released migration: add a new one.

pub const MIGRATIONS: &[&str] = &[
    // 1: verdicts, votes, kept images, trivia deck state.
    r#"
    CREATE TABLE verdicts (
        id INTEGER PRIMARY KEY,
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        image_index INTEGER NOT NULL DEFAULT 0,
        user_hash TEXT NOT NULL,
        image_sha256 TEXT NOT NULL,
        label TEXT NOT NULL CHECK (label IN ('potato', 'not_potato', 'unsure')),
        probability REAL NOT NULL,
        model_version TEXT NOT NULL,
        decode_ms REAL NOT NULL,
        preprocess_ms REAL NOT NULL,
        inference_ms REAL NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (platform, chat_id, message_id, image_index)
    );
    CREATE INDEX verdicts_created ON verdicts (created_at);
    CREATE TABLE votes (
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        user_hash TEXT NOT NULL,
        agree INTEGER NOT NULL CHECK (agree IN (0, 1)),
        source TEXT NOT NULL CHECK (source IN ('reaction', 'button')),
        emoji TEXT,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (platform, chat_id, message_id, user_hash)
    );
    CREATE TABLE kept_images (
        sha256 TEXT PRIMARY KEY,
        bytes BLOB NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX kept_images_created ON kept_images (created_at);
    CREATE TABLE draw_states (
        deck_key TEXT PRIMARY KEY,
        served TEXT NOT NULL,
        last_id TEXT,
        updated_at INTEGER NOT NULL
    );
    "#,
    // 2: platform updates already taken (webhook replicas answer a redelivered update once).
    r#"
    CREATE TABLE deliveries (
        platform TEXT NOT NULL,
        update_id TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (platform, update_id)
    );
    CREATE INDEX deliveries_received ON deliveries (received_at);
    "#,
];
