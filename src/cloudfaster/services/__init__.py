"""Business logic: each module takes a database session and knows nothing of HTTP."""
