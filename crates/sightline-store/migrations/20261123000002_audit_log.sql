-- The audit trail: append-only and hash-chained. The application may only
-- INSERT (through Store::append_audit, which computes the chain); a trigger
-- refuses UPDATE and DELETE for everyone, owner included.

CREATE TABLE audit_log (
    sequence      bigint PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id),
    occurred_at   timestamptz NOT NULL,
    actor         text NOT NULL,
    action        text NOT NULL,
    target        text NOT NULL DEFAULT '',
    details       jsonb NOT NULL DEFAULT '{}',
    previous_hash text NOT NULL CHECK (previous_hash ~ '^[0-9a-f]{64}$'),
    hash          text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$')
);
CREATE INDEX audit_log_workspace ON audit_log (workspace_id, sequence);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
