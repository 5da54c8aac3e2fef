-- date_index.span: the class of the envelope [min low, max high] of a resource's rows of
-- one parameter (storage/query.py SPAN_BOUNDS): 0 within a day, 1 within 31 days, 2
-- within 366 days, 3 longer or open-ended. A narrow interval search (ge/lt, ap...) reads
-- per class only the rows whose low lies within that class's bound before the interval,
-- plus the (few) long ones: an index range scan at any database size (docs/search.md).
-- A row written without it counts as long (always read), so it is never missed.
-- The sums are written as max(high) <= min(low) + bound: open ends are -2^62 and 2^62.
ALTER TABLE date_index ADD COLUMN span smallint NOT NULL DEFAULT 3;
UPDATE date_index t SET span = e.span
FROM (
  SELECT res_type, res_id, param, CASE
    WHEN max(high) <= min(low) + 86400000000 THEN 0
    WHEN max(high) <= min(low) + 2678400000000 THEN 1
    WHEN max(high) <= min(low) + 31622400000000 THEN 2
    ELSE 3 END AS span
  FROM date_index GROUP BY res_type, res_id, param
) e
WHERE t.res_type = e.res_type AND t.res_id = e.res_id AND t.param = e.param AND e.span <> 3;
CREATE INDEX date_index_span ON date_index (res_type, param, span, low);
