"""Clinic admin: the live room monitor, providers, settings, staff and the audit log."""
