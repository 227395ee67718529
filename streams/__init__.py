"""Event plumbing: configuration, event schemas, topics, the Faust app and its agents."""
