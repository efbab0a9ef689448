-- Each scan's compliance: every control of every shipped framework as that
-- scan decided it, so the pass rate has a history and two scans' controls
-- can be compared.
CREATE TABLE scan_controls (
    scan_id      uuid NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    framework    text NOT NULL,
    control_id   text NOT NULL,
    status       text NOT NULL CHECK (status IN ('pass', 'fail', 'not_evaluated', 'manual')),
    reason       text,
    findings     integer NOT NULL DEFAULT 0 CHECK (findings >= 0),
    PRIMARY KEY (scan_id, framework, control_id)
);
CREATE INDEX scan_controls_framework ON scan_controls (workspace_id, framework);

ALTER TABLE scan_controls ENABLE ROW LEVEL SECURITY;
ALTER TABLE scan_controls FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON scan_controls TO sightline_app
    USING (workspace_id = app_workspace()) WITH CHECK (workspace_id = app_workspace());
CREATE POLICY system ON scan_controls TO sightline_worker USING (true) WITH CHECK (true);
GRANT SELECT ON scan_controls TO sightline_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON scan_controls TO sightline_worker;
