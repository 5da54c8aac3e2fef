-- The planner multiplies the selectivities of res_type, param, system and value as if
-- they were independent, so a common code (a LOINC code on 606 of 20,000 resources)
-- was estimated at 12 rows and practitioner searches were planned as if it were rare.
-- Extended statistics (multi-column MCV list, functional dependencies, n-distinct) give
-- the estimate of the combination (590 for that code), docs/access.md ("Cost").
-- ANALYZE fills them now; autovacuum keeps them current.
CREATE STATISTICS token_index_stats (dependencies, ndistinct, mcv)
  ON res_type, param, system, value FROM token_index;
ANALYZE token_index;
