"""The console screen. The only package that imports textual (the core runs without it)."""
