SELECT id, ai_query('chat', text) AS label FROM docs ORDER BY label LIMIT 3
-- expect:
tables: main.default.docs
staged: no (1 ai_query call(s) run as functions)
query: SELECT id, AI_QUERY('chat', text) AS label FROM "__li_main__default__docs" AS docs ORDER BY label NULLS FIRST LIMIT 3
