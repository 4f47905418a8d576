"""Console output (rich on a terminal, plain lines when piped, JSON for machines)."""
