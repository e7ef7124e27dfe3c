-- A job's row counts its attempts that ended as the script's failure and
-- as lost: what its Retries and MaxAttempts are checked against when the
-- state machine (internal/store/transition.go) decides a result or a lost
-- worker, from the row alone. Existing jobs are counted from their
-- attempts: the rows of job_attempts, and the latest attempt when the job
-- row is its record (a job that ended with that attempt's result).
-- Additive: a binary without these columns ignores them.

-- +goose Up
ALTER TABLE jobs ADD COLUMN script_failures integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN lost_attempts integer NOT NULL DEFAULT 0;
UPDATE jobs SET
    script_failures = (SELECT count(*) FROM job_attempts a WHERE a.job_id = jobs.id
            AND a.state IN ('failed', 'timed_out', 'oom_killed'))
        + CASE WHEN jobs.state IN ('failed', 'timed_out', 'oom_killed') AND NOT EXISTS
            (SELECT 1 FROM job_attempts a WHERE a.job_id = jobs.id AND a.number = jobs.attempt)
          THEN 1 ELSE 0 END,
    lost_attempts = (SELECT count(*) FROM job_attempts a WHERE a.job_id = jobs.id AND a.state = 'lost')
WHERE jobs.state IN ('failed', 'timed_out', 'oom_killed')
   OR EXISTS (SELECT 1 FROM job_attempts a WHERE a.job_id = jobs.id);

-- +goose Down
ALTER TABLE jobs DROP COLUMN lost_attempts;
ALTER TABLE jobs DROP COLUMN script_failures;
