"""Benchmarks of the bot, run as `python -m bench.<name>`; see bench/README.md."""
