"""Payments: the state machine every payment moves through.

``states`` holds the statuses and the one table of allowed transitions;
``transitions`` performs a transition under a row lock, in the same
transaction as its timeline event, audit row and ledger entry.
"""
