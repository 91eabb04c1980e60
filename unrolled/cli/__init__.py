"""The `unrolled` command line: parse, call the public API, print. Nothing imports it."""
