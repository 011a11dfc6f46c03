SELECT ai_query('chat', text, 'STRING', failOnError => false, modelParameters => named_struct('max_tokens', 64, 'temperature', 0.2)) AS r FROM s.docs
-- expect:
tables: main.s.docs
staged: yes
base: SELECT NULL AS "__li_p0", text AS "__li_x0" FROM "__li_main__s__docs" AS docs
call 0: endpoint=chat request="__li_x0" failOnError=False returnType=STRING params={'temperature': 0.2, 'max_tokens': 64}
output __li_p0 as 'r': "__li_a0"
