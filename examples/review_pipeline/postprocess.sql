-- Postprocess: one typed row per opinion; failed or unparseable answers go to the errors table.
-- The answer's JSON array is taken from the first '[' to the last ']' (models add prose).
CREATE OR REFRESH STREAMING TABLE main.reviews.opinions AS
WITH parsed AS (
  SELECT review_id, product, regexp_extract(response.result, '(?s)(\\[.*\\])', 1) AS opinions
  FROM STREAM(main.reviews.answers)
  WHERE response.errorMessage IS NULL
    AND regexp_extract(response.result, '(?s)(\\[.*\\])', 1) <> ''
)
SELECT review_id, product,
       get_json_object(opinions, concat('$[', pos, '].Classification')) AS classification,
       get_json_object(opinions, concat('$[', pos, '].Comment')) AS comment,
       get_json_object(opinions, concat('$[', pos, '].Sentiment')) AS sentiment
FROM parsed
LATERAL VIEW explode(sequence(0, CAST(json_array_length(opinions) AS INT) - 1)) p AS pos;

CREATE OR REFRESH STREAMING TABLE main.reviews.errors AS
SELECT review_id, product,
       coalesce(response.errorMessage, 'no JSON array in the answer') AS error,
       response.result AS answer
FROM STREAM(main.reviews.answers)
WHERE response.errorMessage IS NOT NULL
   OR regexp_extract(response.result, '(?s)(\\[.*\\])', 1) = '';
