"""The ways in: the `q2c` CLI and the webhook receiver."""
