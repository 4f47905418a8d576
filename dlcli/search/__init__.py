"""Hyperparameter search: the recipe's `search:` section run as an Optuna study."""
