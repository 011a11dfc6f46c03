WITH recent AS (SELECT * FROM main.default.docs WHERE id > 10)
SELECT d.id, upper(ai_query('chat', d.text || ' / ' || o.name)) || '!' AS shout
FROM recent AS d JOIN system.ops.owners AS o ON d.owner = o.id
ORDER BY d.id DESC LIMIT 5
-- expect:
tables: main.default.docs, system.ops.owners
staged: yes
base: WITH recent AS (SELECT * FROM "__li_main__default__docs" AS docs WHERE id > 10) SELECT d.id, NULL AS "__li_p1", d.text || ' / ' || o.name AS "__li_x0" FROM recent AS d JOIN "__li_system__ops__owners" AS o ON d.owner = o.id ORDER BY d.id DESC LIMIT 5
call 0: endpoint=chat request="__li_x0" failOnError=True returnType=None params={'temperature': 0.0}
output __li_p1 as 'shout': UPPER("__li_a0") || '!'
