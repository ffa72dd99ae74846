"""Style transfer methods: one file each, each with an `Options` dataclass and a `stylize` entry point."""
