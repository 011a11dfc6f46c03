-- statement: demo/seed_summary.sql
-- expect:
tables: uc_catalog.schema.table
staged: yes
base: SELECT text, NULL AS "__li_p1", 'Summarize the given text comprehensively, covering key points and main ideas concisely while retaining relevant details and examples. Ensure clarity and accuracy without unnecessary repetition or omissions: ' || text AS "__li_x0" FROM "__li_uc_catalog__schema__table" AS "table"
call 0: endpoint=databricks-meta-llama-3-1-8b-instruct request="__li_x0" failOnError=True returnType=None params={'temperature': 0.0}
output __li_p1 as 'summary': "__li_a0"
