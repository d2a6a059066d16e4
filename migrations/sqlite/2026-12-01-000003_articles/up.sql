-- The knowledge base: articles with full-text search, and their links to tickets.
CREATE TABLE articles (
    id TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    published_at TIMESTAMP,
    author_id TEXT REFERENCES users (id),
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX articles_created_at_id ON articles (created_at, id);
CREATE INDEX articles_updated_at_id ON articles (updated_at, id);
CREATE INDEX articles_title_id ON articles (title, id);
CREATE INDEX articles_status ON articles (status, created_at, id);
CREATE INDEX articles_author ON articles (author_id);

-- The articles linked to a ticket (those that answered it).
CREATE TABLE ticket_articles (
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    article_id TEXT NOT NULL REFERENCES articles (id),
    linked_at TIMESTAMP NOT NULL,
    PRIMARY KEY (ticket_id, article_id)
);
CREATE INDEX ticket_articles_article ON ticket_articles (article_id);
-- Full-text index over the articles' own rows (external content): Porter
-- stemming so that word forms match; kept in step by the triggers.
CREATE VIRTUAL TABLE articles_fts USING fts5(
    title, body, content = 'articles', content_rowid = 'rowid', tokenize = 'porter unicode61'
);
CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts (rowid, title, body) VALUES (new.rowid, new.title, new.body);
END;
CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, body) VALUES ('delete', old.rowid, old.title, old.body);
END;
CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, body ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, body) VALUES ('delete', old.rowid, old.title, old.body);
    INSERT INTO articles_fts (rowid, title, body) VALUES (new.rowid, new.title, new.body);
END;
