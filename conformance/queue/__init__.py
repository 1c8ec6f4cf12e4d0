"""The queue tier's real components: a Redis server and worker processes, started and always stopped by the suite."""
