"""Training and experiments: what makes the shipped weights, never installed with the product (rag/)."""
