SELECT id, ai_query('chat', 'Translate: ' || ai_query('chat', 'Summarize: ' || text)) AS t FROM docs
-- expect:
tables: main.default.docs
staged: yes
base: SELECT id, NULL AS "__li_p1", 'Summarize: ' || text AS "__li_x0" FROM "__li_main__default__docs" AS docs
call 0: endpoint=chat request="__li_x0" failOnError=True returnType=None params={'temperature': 0.0}
call 1: endpoint=chat request='Translate: ' || "__li_a0" failOnError=True returnType=None params={'temperature': 0.0}
output __li_p1 as 't': "__li_a1"
