-- The live queue's pages keep half their room for claims (fillfactor 50, where V10 kept 30%). A claim writes the
-- lease into each callback it takes and changes no indexed column: with room in the row's page that is a heap-only
-- update, a new version in the same page and no index entry; without, the row moves and adds an entry to each of the
-- queue's four indexes. Callbacks are written in bursts and claimed in the order they are due, so a claim takes most
-- of a page's rows at once, before any old version can be pruned: with 30% of the page free, only about half of a
-- claim of 32 found room (QueuePlanTest). Pages written before this migration keep their rows as they are; new pages
-- keep the room. Compatible with the previous release: a storage parameter, no change to what it reads or writes.
ALTER TABLE callbackd.queue SET (fillfactor = 50);
