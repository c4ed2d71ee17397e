"""The benchmark harness: an echo ceiling, a separate-process load generator, and the targets of issue 5."""
