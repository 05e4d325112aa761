"""Command-line front ends: thin ``main(argv=None) -> int`` functions."""
