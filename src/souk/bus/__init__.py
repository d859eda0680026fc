"""NATS JetStream bus: connection, streams, publishers and consumers, embedded server supervisor."""
