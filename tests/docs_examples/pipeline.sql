-- a small script for `lakeinfer sql -f pipeline.sql` in the docs' examples
CREATE TABLE IF NOT EXISTS main.default.notes (id INT, note STRING);
INSERT INTO main.default.notes VALUES (1, 'first'), (2, 'second');
SELECT count(*) AS notes FROM main.default.notes;
