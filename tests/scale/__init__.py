"""Scale-out and fault-tolerance tests: real API replicas and workers on a shared database and broker."""
