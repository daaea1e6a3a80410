-- Failed key presentations counted per scope (an address, a key's public
-- id) and window, merged by every broker sharing the store at most once a
-- second (issue 15; registry.MergeFailures). Rows of past windows are
-- deleted as the merge goes.
CREATE TABLE failure_counts (
	window_start INTEGER NOT NULL,
	scope        TEXT    NOT NULL,
	count        INTEGER NOT NULL,
	PRIMARY KEY (window_start, scope)
);
