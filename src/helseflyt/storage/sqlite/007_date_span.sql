-- date_index.span: the class of the envelope [min low, max high] of a resource's rows of
-- one parameter (storage/query.py SPAN_BOUNDS): 0 within a day, 1 within 31 days, 2
-- within 366 days, 3 longer or open-ended. A narrow interval search (ge/lt, ap...) reads
-- per class only the rows whose low lies within that class's bound before the interval,
-- plus the (few) long ones: an index range scan at any database size (docs/search.md).
-- A row written without it counts as long (always read), so it is never missed.
-- The sums are written as max(high) <= min(low) + bound: open ends are -2^62 and 2^62.
ALTER TABLE date_index ADD COLUMN span INTEGER NOT NULL DEFAULT 3;
UPDATE date_index SET span = (
  SELECT CASE
    WHEN max(d.high) <= min(d.low) + 86400000000 THEN 0
    WHEN max(d.high) <= min(d.low) + 2678400000000 THEN 1
    WHEN max(d.high) <= min(d.low) + 31622400000000 THEN 2
    ELSE 3 END
  FROM date_index d
  WHERE d.res_type = date_index.res_type AND d.res_id = date_index.res_id AND d.param = date_index.param
);
CREATE INDEX date_index_span ON date_index (res_type, param, span, low);
