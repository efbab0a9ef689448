-- Ask with a model: what each workspace's admins chose (data policy and
-- storage), the token budget's running count, and (storage on) each user's
-- conversations with their questions, plans, results and answers. All of
-- it under row-level security, like every workspace table.

CREATE TABLE ask_settings (
    workspace_id uuid PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    -- NULL: the profile's default (schema-only for openai and anthropic, rows for bedrock).
    data_policy  text CHECK (data_policy IN ('schema-only', 'rows')),
    storage      boolean NOT NULL DEFAULT true,
    updated_by   text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Tokens spent per workspace per calendar month (UTC), kept whatever the
-- storage setting: the monthly budget is read from here.
CREATE TABLE ask_usage (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    month        date NOT NULL CHECK (month = date_trunc('month', month)::date),
    tokens       bigint NOT NULL DEFAULT 0 CHECK (tokens >= 0),
    questions    integer NOT NULL DEFAULT 0 CHECK (questions >= 0),
    PRIMARY KEY (workspace_id, month)
);

CREATE TABLE ask_sessions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- The asker, as the audit trail names them: a session is theirs alone.
    owner        text NOT NULL,
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ask_sessions_owner ON ask_sessions (workspace_id, owner, updated_at DESC);

CREATE TABLE ask_questions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    session_id    uuid NOT NULL REFERENCES ask_sessions (id) ON DELETE CASCADE,
    asked_by      text NOT NULL,
    question      text NOT NULL CHECK (length(question) BETWEEN 1 AND 2000),
    -- 'answered', or 'stopped' with the reason in stopped_because.
    status        text NOT NULL CHECK (status IN ('answered', 'stopped')),
    stopped_because text,
    answer        text,
    -- The tool calls in order: tool, arguments, statement, milliseconds, rows, error.
    plan          jsonb NOT NULL DEFAULT '[]',
    -- Each statement's result, capped (columns, rows, truncated).
    results       jsonb NOT NULL DEFAULT '[]',
    provider      text NOT NULL,
    model         text NOT NULL,
    data_policy   text NOT NULL CHECK (data_policy IN ('schema-only', 'rows')),
    input_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    latency_ms    bigint NOT NULL DEFAULT 0,
    asked_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ask_questions_session ON ask_questions (session_id, asked_at);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['ask_settings', 'ask_usage', 'ask_sessions', 'ask_questions']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON %I TO sightline_app
                        USING (workspace_id = app_workspace()) WITH CHECK (workspace_id = app_workspace())', t);
    END LOOP;
END $$;

-- A question's session must be of the same workspace (RLS hides the rest,
-- but a foreign key is checked without it).
CREATE UNIQUE INDEX ask_sessions_workspace_id ON ask_sessions (workspace_id, id);
ALTER TABLE ask_questions ADD CONSTRAINT ask_questions_same_workspace
    FOREIGN KEY (workspace_id, session_id) REFERENCES ask_sessions (workspace_id, id) ON DELETE CASCADE;

GRANT SELECT, INSERT, UPDATE ON ask_settings TO sightline_app;
GRANT SELECT, INSERT, UPDATE ON ask_usage TO sightline_app;
GRANT SELECT, INSERT, UPDATE (title, updated_at), DELETE ON ask_sessions TO sightline_app;
GRANT SELECT, INSERT, DELETE ON ask_questions TO sightline_app;
