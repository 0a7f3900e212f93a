-- The user who created a campaign, and the one who last started or resumed
-- it (NULL: a key of no user, or made before users were recorded). Each
-- run re-checks the permissions on recipients of the one who started it.
ALTER TABLE campaigns ADD COLUMN created_by TEXT;
ALTER TABLE campaigns ADD COLUMN started_by TEXT;
-- Why a run sent nothing (e.g. its user lost a permission); NULL otherwise.
ALTER TABLE campaign_runs ADD COLUMN failure TEXT;
