"""Development benchmarks run by ``shopkeep eval`` / ``make eval``.

Each part reads its labelled set from a folder the team keeps beside the
clone (``../shared``); those files are never copied into the repository.
Every part goes through the same code path a shopper or a staff member
reaches (``shopkeep search --json``, ``shopkeep chat --json``).
"""
