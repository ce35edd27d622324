"""Foundations every stage uses: errors with locations, limits, the number syntax, terminal-safe
text, the optional extras and Ctrl-C deferral. Imports nothing else of cnninspect."""
