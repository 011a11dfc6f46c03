-- Preprocess: drop empty reviews, normalise whitespace; only new raw rows are read each run.
CREATE OR REFRESH STREAMING TABLE main.reviews.clean AS
SELECT review_id, product, trim(regexp_replace(review_text, '\\s+', ' ')) AS review_text
FROM STREAM(main.reviews.raw)
WHERE review_text IS NOT NULL AND length(trim(review_text)) > 0;
