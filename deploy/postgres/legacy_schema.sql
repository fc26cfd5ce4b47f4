-- The PostgreSQL layout in which the reasoning service kept its PageIndex trees before
-- TreeStore: the source of scripts/migrate_postgres_to_treestore.py (see README.md here).
-- Other table and column names are mapped with a config file (migrate.example.toml).
--
-- History is kept temporal-tables style: each table holding current rows has a *_history
-- twin with the same columns; a row is valid in [valid_from, valid_to) (system time: the
-- start of the transaction that wrote it, and of the one that replaced or deleted it;
-- current rows have valid_to = 'infinity'). The versioning trigger below moves the old row
-- into the history table on UPDATE and DELETE. A *version* of a document is an instant at
-- which one of its rows started or stopped being valid; document_versions gives each version
-- its effective date (when it takes effect in the real world; may be back-dated) and a
-- message. A version without a document_versions row takes effect when it was committed.
--
-- An as-of query on the commit (system time) axis at T sees the rows with
-- valid_from <= T < valid_to; on the effective axis at E it sees the version in force at E:
-- among the versions with effective_at <= E the one with the greatest effective_at (ties:
-- the latest), read at its valid_from. legacy_nodes_as_of and legacy_version_in_force
-- below are those queries; TreeStore's as-of reads answer the same after the migration.

CREATE EXTENSION IF NOT EXISTS ltree;

CREATE TABLE documents (
    doc_id      text PRIMARY KEY,
    name        text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT '',
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,     -- an object; values become strings
    valid_from  timestamptz NOT NULL DEFAULT now(),
    valid_to    timestamptz NOT NULL DEFAULT 'infinity'
);
CREATE TABLE documents_history (LIKE documents);
CREATE INDEX documents_history_doc ON documents_history (doc_id, valid_from);

-- A tree as an adjacency list: parent_id (NULL = top level) and position (order among the
-- siblings; gaps allowed, ties ordered by node_id) are authoritative; path (ltree, the
-- labels from the top-level node down to the node) is kept by the service for subtree
-- queries (path <@ '0002') and not read by the migration.
CREATE TABLE nodes (
    doc_id     text NOT NULL REFERENCES documents (doc_id) ON DELETE CASCADE,
    node_id    text NOT NULL,
    parent_id  text,
    position   integer NOT NULL,
    path       ltree NOT NULL,
    title      text NOT NULL DEFAULT '',
    summary    text,
    text       text,
    start_page integer,
    end_page   integer,
    line_num   integer,
    extras     jsonb NOT NULL DEFAULT '{}'::jsonb,      -- every other PageIndex key
    valid_from timestamptz NOT NULL DEFAULT now(),
    valid_to   timestamptz NOT NULL DEFAULT 'infinity',
    PRIMARY KEY (doc_id, node_id),
    FOREIGN KEY (doc_id, parent_id) REFERENCES nodes (doc_id, node_id)
        ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX nodes_path ON nodes USING gist (path);
CREATE TABLE nodes_history (LIKE nodes);
CREATE INDEX nodes_history_doc ON nodes_history (doc_id, valid_from);

CREATE TABLE document_versions (
    doc_id       text NOT NULL REFERENCES documents (doc_id) ON DELETE CASCADE,
    valid_from   timestamptz NOT NULL,                  -- the version: now() of its transaction
    effective_at timestamptz NOT NULL,
    message      text NOT NULL DEFAULT '',
    PRIMARY KEY (doc_id, valid_from)
);

-- Not versioned: a reference exists while both of its ends exist.
CREATE TABLE cross_references (
    from_doc   text NOT NULL,
    from_node  text NOT NULL,
    to_doc     text NOT NULL,
    to_node    text NOT NULL,
    kind       text NOT NULL DEFAULT '',
    label      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (from_doc, from_node, to_doc, to_node, kind),
    FOREIGN KEY (from_doc, from_node) REFERENCES nodes (doc_id, node_id) ON DELETE CASCADE,
    FOREIGN KEY (to_doc, to_node) REFERENCES nodes (doc_id, node_id) ON DELETE CASCADE
);

-- Cached results of agent tool calls. An entry is fresh while expires_at is in the future
-- and none of doc_ids has a version committed after created_at.
CREATE TABLE tool_results (
    tool_name  text NOT NULL,
    args       jsonb NOT NULL,
    result     jsonb NOT NULL,
    doc_ids    text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (tool_name, args)
);

-- ---------------------------------------------------------------------------------------
-- versioning: history rows on UPDATE and DELETE (TG_ARGV[0] = the history table)
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION legacy_versioning() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.valid_from < now() THEN
        -- a row written earlier in the same transaction was never visible: no history
        OLD.valid_to := now();
        EXECUTE format('INSERT INTO %I SELECT ($1).*', TG_ARGV[0]) USING OLD;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    NEW.valid_from := now();
    NEW.valid_to := 'infinity';
    RETURN NEW;
END $$;

CREATE TRIGGER documents_versioning BEFORE INSERT OR UPDATE OR DELETE ON documents
    FOR EACH ROW EXECUTE FUNCTION legacy_versioning('documents_history');
CREATE TRIGGER nodes_versioning BEFORE INSERT OR UPDATE OR DELETE ON nodes
    FOR EACH ROW EXECUTE FUNCTION legacy_versioning('nodes_history');

-- Records the effective date and message of the version the current transaction writes.
CREATE FUNCTION legacy_record_version(p_doc text, p_effective timestamptz, p_message text)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO document_versions (doc_id, valid_from, effective_at, message)
    VALUES (p_doc, now(), p_effective, p_message)
    ON CONFLICT (doc_id, valid_from)
    DO UPDATE SET effective_at = excluded.effective_at, message = excluded.message
$$;

-- Deleting a document deletes its history too (the service never keeps deleted documents).
CREATE FUNCTION legacy_delete_document(p_doc text) RETURNS void LANGUAGE sql AS $$
    DELETE FROM cross_references WHERE from_doc = p_doc OR to_doc = p_doc;
    DELETE FROM documents WHERE doc_id = p_doc;
    DELETE FROM nodes_history WHERE doc_id = p_doc;
    DELETE FROM documents_history WHERE doc_id = p_doc;
$$;

-- ---------------------------------------------------------------------------------------
-- as-of queries
-- ---------------------------------------------------------------------------------------

-- The versions of a document, oldest first.
CREATE FUNCTION legacy_versions(p_doc text)
RETURNS TABLE (valid_from timestamptz, effective_at timestamptz, message text)
LANGUAGE sql STABLE AS $$
    WITH created AS (
        SELECT min(t.valid_from) AS at FROM (
            SELECT d.valid_from FROM documents d WHERE d.doc_id = p_doc
            UNION ALL SELECT h.valid_from FROM documents_history h WHERE h.doc_id = p_doc) t
    ), instants AS (
        SELECT d.valid_from AS at FROM documents d WHERE d.doc_id = p_doc
        UNION SELECT h.valid_from FROM documents_history h WHERE h.doc_id = p_doc
        UNION SELECT h.valid_to FROM documents_history h WHERE h.doc_id = p_doc
        UNION SELECT n.valid_from FROM nodes n WHERE n.doc_id = p_doc
        UNION SELECT h.valid_from FROM nodes_history h WHERE h.doc_id = p_doc
        UNION SELECT h.valid_to FROM nodes_history h WHERE h.doc_id = p_doc
        UNION SELECT v.valid_from FROM document_versions v WHERE v.doc_id = p_doc
    )
    SELECT i.at, coalesce(v.effective_at, i.at), coalesce(v.message, '')
    FROM instants i
    CROSS JOIN created c
    LEFT JOIN document_versions v ON v.doc_id = p_doc AND v.valid_from = i.at
    WHERE i.at >= c.at AND i.at < 'infinity'
    ORDER BY i.at
$$;

-- The nodes of a document as they were at system time p_at.
CREATE FUNCTION legacy_nodes_as_of(p_doc text, p_at timestamptz)
RETURNS SETOF nodes LANGUAGE sql STABLE AS $$
    SELECT * FROM nodes WHERE doc_id = p_doc AND valid_from <= p_at AND valid_to > p_at
    UNION ALL
    SELECT * FROM nodes_history WHERE doc_id = p_doc AND valid_from <= p_at AND valid_to > p_at
$$;

-- The version (its valid_from) in force at effective time p_at; NULL before the first.
CREATE FUNCTION legacy_version_in_force(p_doc text, p_at timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT valid_from FROM legacy_versions(p_doc)
    WHERE effective_at <= p_at
    ORDER BY effective_at DESC, valid_from DESC
    LIMIT 1
$$;
