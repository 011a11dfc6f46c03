SELECT owner, ai_query('chat', 'Summarize: ' || string_agg(text, ' ')) AS summary FROM docs GROUP BY owner
-- expect:
tables: main.default.docs
staged: yes
base: SELECT owner, NULL AS "__li_p1", 'Summarize: ' || LISTAGG(text, ' ') AS "__li_x0" FROM "__li_main__default__docs" AS docs GROUP BY owner
call 0: endpoint=chat request="__li_x0" failOnError=True returnType=None params={'temperature': 0.0}
output __li_p1 as 'summary': "__li_a0"
