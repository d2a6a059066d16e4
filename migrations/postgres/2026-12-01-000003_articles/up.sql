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
    updated_at TIMESTAMP NOT NULL,
    -- Title words weigh more than body words (ts_rank weights A and B).
    search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A') ||
        setweight(to_tsvector('english', body), 'B')
    ) STORED
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
CREATE INDEX articles_search ON articles USING gin (search_vector);
