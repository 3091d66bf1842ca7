"""Pure domain code shared by every lifecycle: policy numbers, money, dates, identities.

Nothing here does I/O, so workflows, activities and the CLI can all import it.
"""
