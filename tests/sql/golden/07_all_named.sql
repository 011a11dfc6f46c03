SELECT ai_query(request => text, endpoint => 'emb') AS v FROM docs
-- expect:
tables: main.default.docs
staged: yes
base: SELECT NULL AS "__li_p0", text AS "__li_x0" FROM "__li_main__default__docs" AS docs
call 0: endpoint=emb request="__li_x0" failOnError=True returnType=None params={'temperature': 0.0}
output __li_p0 as 'v': "__li_a0"
