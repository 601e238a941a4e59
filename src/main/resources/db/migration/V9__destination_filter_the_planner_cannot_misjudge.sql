-- Claims, the scheduler's look and the queue gauge walk the due index in order and skip callbacks whose destination
-- is listed (paused, or at this dispatcher's limit). Written as `destination <> ALL (list)`, the planner estimates
-- that filter from the column's statistics with the list unknown: when every callback goes to one destination (a
-- platform with a single receiver, the common case), it concludes that almost no row passes, and chooses to read
-- and sort the whole queue instead of the first entries of the index. With a million pending callbacks a claim then
-- took seconds. Behind a function the planner cannot see through, the filter gets a fixed middling estimate, and
-- the ordered index scan that stops after LIMIT rows wins at any queue length.
CREATE FUNCTION callbackd.not_listed(value varchar, list varchar[]) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN value <> ALL (list);
END $$;
