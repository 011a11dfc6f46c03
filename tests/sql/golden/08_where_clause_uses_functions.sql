SELECT id FROM docs WHERE ai_query('chat', text) = 'yes'
-- expect:
tables: main.default.docs
staged: no (1 ai_query call(s) run as functions)
query: SELECT id FROM "__li_main__default__docs" AS docs WHERE AI_QUERY('chat', text) = 'yes'
