"""Benchmarks of the jobs engine against plain sqlite3, Huey and Procrastinate (see README.md)."""
