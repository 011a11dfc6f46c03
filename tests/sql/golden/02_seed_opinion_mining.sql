-- statement: demo/seed_opinion_mining.sql
-- expect:
tables: catalog.schema.product_reviews
staged: yes
base: SELECT *, NULL AS "__li_p1", 'You are an opinion mining service. Given a piece of text, output an array of json results that extracts key user opinions, a classification, and a Positive, Negative, Neutral, or Mixed sentiment about that subject.


AVAILABLE CLASSIFICATIONS
Quality, Service, Design, Safety, Efficiency, Usability, Price


Examples below:


DOCUMENT
I got soup. It really did take only 20 minutes to make some pretty good soup. The noises it makes when it''s blending are somewhat terrifying, but it gives a little beep to warn you before it does that. It made three or four large servings of soup. It''s a single layer of steel, so the outside gets pretty hot. It can be hard to unplug the lid without knocking the blender against the side, which is not a nice sound. The soup was good and the recipes it comes with look delicious, but I''m not sure I''ll use it often. 20 minutes of scary noises from the kitchen when I already need comfort food is not ideal for me. But if you aren''t sensitive to loud sounds it does exactly what it says it does..


RESULT
[
{''Classification'': ''Efficiency'', ''Comment'': ''only 20 minutes'',''Sentiment'': ''Positive''},
{''Classification'': ''Quality'',''Comment'': ''pretty good soup'',''Sentiment'': ''Positive''},
{''Classification'': ''Usability'', ''Comment'': ''noises it makes when it''s blending are somewhat terrifying'', ''Sentiment'': ''Negative''},
{''Classification'': ''Safety'',''Comment'': ''outside gets pretty hot'',''Sentiment'': ''Negative''},
{''Classification'': ''Design'',''Comment'': ''Hard to unplug the lid without knocking the blender against the side, which is not a nice sound'', ''Sentiment'': ''Negative''}
]


DOCUMENT
' || REVIEW_TEXT || '

RESULT
' AS "__li_x0" FROM "__li_catalog__schema__product_reviews" AS product_reviews LIMIT 10
call 0: endpoint=databricks-meta-llama-3-3-70b-instruct request="__li_x0" failOnError=True returnType=None params={'temperature': 0.0}
output __li_p1 as 'result': "__li_a0"
