SELECT review_id, product,
  ai_query('{{endpoint}}', request => concat('You are an opinion mining service. Given a review, answer with a JSON array of the key user opinions, each with a Classification (Quality, Service, Design, Safety, Efficiency, Usability, Price), the Comment it is based on and a Sentiment (Positive, Negative, Neutral or Mixed).

REVIEW
I got soup. It really did take only 20 minutes to make some pretty good soup. The outside gets pretty hot.

RESULT
[{"Classification": "Efficiency", "Comment": "only 20 minutes", "Sentiment": "Positive"},
 {"Classification": "Quality", "Comment": "pretty good soup", "Sentiment": "Positive"},
 {"Classification": "Safety", "Comment": "outside gets pretty hot", "Sentiment": "Negative"}]

REVIEW
', review_text, '

RESULT
'), failOnError => false) AS response
FROM STREAM(main.reviews.clean)
