-- Every problem an import found, listed in its report or not (the report
-- keeps the first 100,000): the report's "N more problems are not listed"
-- is problems - errors_stored. Jobs imported before knew only their failed
-- rows, each of which had a problem at least.
ALTER TABLE imports ADD COLUMN problems BIGINT NOT NULL DEFAULT 0;
UPDATE imports SET problems = MAX(rows_failed, errors_stored);
