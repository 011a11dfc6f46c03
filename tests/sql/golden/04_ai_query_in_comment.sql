-- ai_query('chat', text) is only mentioned here
SELECT text /* ai_query('chat', text) */ FROM docs
-- expect:
tables: main.default.docs
staged: no (0 ai_query call(s) run as functions)
query: /* ai_query('chat', text) is only mentioned here */ SELECT text /* ai_query('chat', text) */ FROM "__li_main__default__docs" AS docs
