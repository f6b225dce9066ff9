"""Notifications to payers outside the page: Web Push (framework-free core)."""
