-- Full-text search of the message history (storage/search.rs). Contentless
-- FTS5: it keeps the index of the folded words and the message id, not the
-- text. The rowid is a search key: the millisecond of the message's UUIDv7
-- id in the high bits, a number within that millisecond in the low 22.
-- Words are folded in Rust (lower case, no diacritics) before they get here;
-- remove_diacritics 2 only catches what that folding leaves.
-- Existing messages are indexed by the migration runner right after this.
CREATE VIRTUAL TABLE message_search USING fts5(
    message_id UNINDEXED,
    words,
    content = '',
    contentless_delete = 1,
    contentless_unindexed = 1,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
