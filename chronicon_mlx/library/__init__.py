"""The video library: every described moment of every video in one SQLite database, with a
full-text index across them."""
