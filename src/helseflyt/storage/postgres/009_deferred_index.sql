-- Secondary indexes of the search-index tables dropped for a bulk load (storage/sql.py
-- defer_indexes), with the statement that recreates each. Dropping and recording happen
-- in one transaction; the load's end, or the next open of the store after a crash,
-- recreates every index listed here and empties the table (docs/transactions.md).
CREATE TABLE deferred_index (
  name       text PRIMARY KEY,
  definition text NOT NULL
);
