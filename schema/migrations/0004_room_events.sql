-- The membership facts of each room (room.created, member.joined,
-- member.left) by their room seq, so that a page of history shows the same
-- "created", "joined" and "left" lines among its messages as the live
-- facts do. Written by the pg view as it folds those facts. A database
-- that had applied facts before this migration holds their lines only after
-- the view is rebuilt (chillin-replay rebuild -view pg).
CREATE TABLE room_events (
    id      bigint PRIMARY KEY,                -- CHAT_EVT seq of the fact
    room_id text NOT NULL,
    seq     bigint NOT NULL,                   -- room seq
    kind    text NOT NULL,                     -- the fact's type
    user_id text NOT NULL,
    at      timestamptz NOT NULL,
    UNIQUE (room_id, seq)
);
CREATE INDEX room_events_room_id ON room_events (room_id, id DESC);
