-- 20261208000013's constraint, validated apart from the ALTER that added it
-- (each migration runs in a transaction of its own): VALIDATE CONSTRAINT
-- takes SHARE UPDATE EXCLUSIVE, which neither reads nor writes of findings
-- wait for, and reads the table once. It cannot fail on rows the old rule
-- admitted: the rule is the same.
ALTER TABLE findings VALIDATE CONSTRAINT findings_evidence_sha256_check;
