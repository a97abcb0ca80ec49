"""Background jobs: a durable queue (SQLite or Redis) and the jobs' visible state."""
