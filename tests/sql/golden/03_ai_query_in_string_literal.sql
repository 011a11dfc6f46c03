SELECT 'ai_query(\'chat\', text)' AS s, "call ai_query('x', y)" AS t, text FROM main.default.docs
-- expect:
tables: main.default.docs
staged: no (0 ai_query call(s) run as functions)
query: SELECT 'ai_query(''chat'', text)' AS s, 'call ai_query(''x'', y)' AS t, text FROM "__li_main__default__docs" AS docs
