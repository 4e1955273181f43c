-- Group pictures: the chat list only says whether a chat has one (the JPEG
-- itself stays in the head document and is read when it is shown), so
-- listing chats never reads pictures. 0 or 1; existing chats have none.
ALTER TABLE chats ADD COLUMN has_avatar INTEGER NOT NULL DEFAULT 0 CHECK (has_avatar IN (0, 1));
