"""The shell: configuration, composition root, CLI, channels and scheduler."""
