"""Options declared once (defaults, ranges, choices), the config file, and prompt profiles."""
