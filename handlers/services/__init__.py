"""Domain services: the rules of the product, called by conversation flows and the CLI."""
