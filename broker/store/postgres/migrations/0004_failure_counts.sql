-- Failed key presentations counted per scope and window, merged by every
-- broker sharing the store at most once a second (SQLite's 0011).
CREATE TABLE failure_counts (
	window_start BIGINT NOT NULL,
	scope        TEXT   NOT NULL,
	count        BIGINT NOT NULL,
	PRIMARY KEY (window_start, scope)
);
