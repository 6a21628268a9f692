"""The built-in stages, each a plugin registered like a third-party one."""
