"""The rules (one module each), the engine that applies them, and the runtime helper template."""
