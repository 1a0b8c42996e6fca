-- 0001_init.sql
CREATE TABLE users (
    id            text PRIMARY KEY,            -- lowercase username
    display_name  text NOT NULL,
    password_hash text NOT NULL,               -- argon2id PHC string
    avatar_key    text,
    created_at    timestamptz NOT NULL,
    fact_id       bigint NOT NULL              -- CHAT_EVT seq of user.registered
);
CREATE TABLE rooms (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    description   text NOT NULL DEFAULT '',
    is_private    boolean NOT NULL DEFAULT false,
    password_hash text,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL,
    head_seq      bigint NOT NULL,             -- highest room seq applied
    last_fact_id  bigint NOT NULL              -- CHAT_EVT seq of that fact
);
CREATE TABLE room_members (
    room_id   text NOT NULL,
    user_id   text NOT NULL,
    joined_at timestamptz NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user ON room_members (user_id);
CREATE TABLE messages (
    id         bigint PRIMARY KEY,             -- CHAT_EVT seq of message.posted
    room_id    text NOT NULL,
    seq        bigint NOT NULL,                -- room seq
    user_id    text NOT NULL,
    client_id  text NOT NULL,
    text       text NOT NULL,                  -- '' once deleted (tombstone)
    reply_to   bigint,
    created_at timestamptz NOT NULL,
    edited_at  timestamptz,
    deleted_at timestamptz,
    UNIQUE (room_id, seq),
    UNIQUE (room_id, user_id, client_id)
);
CREATE INDEX messages_room_id ON messages (room_id, id DESC);
CREATE TABLE reactions (
    message_id bigint NOT NULL,
    user_id    text NOT NULL,
    emoji      text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
);
CREATE TABLE attachments (
    message_id   bigint NOT NULL,
    position     int NOT NULL,
    key          text NOT NULL,
    name         text NOT NULL,
    content_type text NOT NULL,
    size         bigint NOT NULL,
    PRIMARY KEY (message_id, position)
);
CREATE TABLE sessions (
    id         text PRIMARY KEY,               -- hex SHA-256 of the token
    user_id    text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE TABLE projection_checkpoints (
    view       text PRIMARY KEY,
    seq        bigint NOT NULL,                -- last CHAT_EVT seq applied
    updated_at timestamptz NOT NULL
);
