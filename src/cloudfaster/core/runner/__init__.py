"""The operations runner: claims operation rows, runs their steps with checkpoints, sweeps for lost work."""
