-- 0003_read_positions.sql
-- How far each user has read each room: the highest room seq of their
-- read.marked facts there, or of their joining (a member has read what was
-- there when they joined), whichever is higher. Unread and mention counts
-- are the messages of the room after it.
CREATE TABLE read_positions (
    user_id text NOT NULL,
    room_id text NOT NULL,
    seq     bigint NOT NULL,                   -- room seq read up to
    PRIMARY KEY (user_id, room_id)
);
