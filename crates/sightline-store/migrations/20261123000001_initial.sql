-- Sightline's state. Every workspace-scoped table carries workspace_id NOT NULL
-- with a foreign key; row-level security is added on top by a later migration.

CREATE TABLE workspaces (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name             text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    -- The ExternalId member accounts' monitoring roles require.
    external_id      text NOT NULL CHECK (length(external_id) BETWEEN 2 AND 1224),
    member_role_name text NOT NULL DEFAULT 'SightlineMonitoring',
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id      uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    aws_account_id    text NOT NULL CHECK (aws_account_id ~ '^[0-9]{12}$'),
    name              text,
    -- NULL: scan with the worker's own credentials.
    role_arn          text CHECK (role_arn IS NULL OR role_arn ~ '^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$'),
    external_id       text,
    -- Empty: every enabled region.
    regions           text[] NOT NULL DEFAULT '{}',
    schedule_interval interval CHECK (schedule_interval IS NULL OR schedule_interval >= interval '5 minutes'),
    next_scan_at      timestamptz,
    source            text NOT NULL DEFAULT 'manual' CHECK (source IN ('manual', 'organizations')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, aws_account_id)
);
CREATE INDEX accounts_due ON accounts (next_scan_at) WHERE schedule_interval IS NOT NULL;

CREATE TABLE jobs (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id     uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    account_id       uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind             text NOT NULL DEFAULT 'scan' CHECK (kind IN ('scan')),
    status           text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    run_after        timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    -- Set on jobs a schedule enqueued: one job per account and scheduled time.
    scheduled_for    timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    UNIQUE (account_id, scheduled_for)
);
CREATE INDEX jobs_claimable ON jobs (run_after) WHERE status IN ('queued', 'running');

CREATE TABLE scans (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id       uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    account_id         uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    job_id             uuid REFERENCES jobs (id) ON DELETE SET NULL,
    -- running → succeeded (no gaps) | partial (gaps) | abandoned (its worker died).
    status             text NOT NULL CHECK (status IN ('running', 'succeeded', 'partial', 'abandoned')),
    started_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz,
    regions            text[] NOT NULL DEFAULT '{}',
    services           text[] NOT NULL DEFAULT '{}',
    api_calls          bigint NOT NULL DEFAULT 0,
    resources          integer NOT NULL DEFAULT 0,
    gaps               integer NOT NULL DEFAULT 0,
    findings_open      integer NOT NULL DEFAULT 0,
    findings_new       integer NOT NULL DEFAULT 0,
    findings_resolved  integer NOT NULL DEFAULT 0,
    findings_regressed integer NOT NULL DEFAULT 0
);
CREATE INDEX scans_account ON scans (account_id, started_at DESC);
-- A job produces at most one finished scan: the exactly-once guarantee.
CREATE UNIQUE INDEX scans_one_per_job ON scans (job_id) WHERE status IN ('succeeded', 'partial');

CREATE TABLE coverage_gaps (
    id           bigserial PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    scan_id      uuid NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    service      text NOT NULL,
    region       text NOT NULL,
    action       text NOT NULL,
    kind         text NOT NULL,
    error        text NOT NULL
);
CREATE INDEX coverage_gaps_scan ON coverage_gaps (scan_id);

CREATE TABLE resources (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    account_id    uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    arn           text NOT NULL,
    resource_type text NOT NULL,
    resource_id   text NOT NULL,
    region        text NOT NULL,
    name          text,
    tags          jsonb NOT NULL DEFAULT '{}',
    -- Already redacted by the collectors: no secret value reaches this table.
    attributes    jsonb NOT NULL DEFAULT '{}',
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    last_scan_id  uuid NOT NULL REFERENCES scans (id),
    -- Set when a complete scan no longer sees it; rows are never deleted by scans.
    gone_at       timestamptz,
    PRIMARY KEY (account_id, arn)
);
CREATE INDEX resources_workspace_type ON resources (workspace_id, resource_type);

CREATE TABLE findings (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id     uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    account_id       uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    check_id         text NOT NULL,
    resource_arn     text NOT NULL,
    resource_type    text NOT NULL,
    resource_id      text NOT NULL,
    region           text NOT NULL,
    severity         text NOT NULL,
    category         text NOT NULL,
    title            text NOT NULL,
    message          text NOT NULL,
    evidence         jsonb NOT NULL,
    evidence_sha256  text NOT NULL CHECK (evidence_sha256 ~ '^[0-9a-f]{64}$'),
    remediation      jsonb NOT NULL DEFAULT '[]',
    rollback         jsonb NOT NULL DEFAULT '[]',
    monthly_savings  numeric(12, 2),
    savings_formula  text,
    status           text NOT NULL CHECK (status IN ('open', 'resolved')),
    first_seen       timestamptz NOT NULL,
    last_seen        timestamptz NOT NULL,
    resolved_at      timestamptz,
    resolved_scan_id uuid REFERENCES scans (id),
    last_scan_id     uuid NOT NULL REFERENCES scans (id),
    UNIQUE (account_id, check_id, resource_arn)
);
CREATE INDEX findings_workspace_status ON findings (workspace_id, status);

-- What each scan changed: the diff between a scan and the state before it.
CREATE TABLE scan_finding_changes (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    scan_id      uuid NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    finding_id   uuid NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
    change       text NOT NULL CHECK (change IN ('new', 'still_open', 'resolved', 'regressed')),
    PRIMARY KEY (scan_id, finding_id)
);
