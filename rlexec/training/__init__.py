"""Training, evaluation and comparison orchestration: markets from config, agent sessions over
the store, the training loop, greedy evaluation and paired comparisons against the baselines."""
