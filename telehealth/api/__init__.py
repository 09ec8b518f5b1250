"""JSON API under /api/v1: providers, slots and bookings."""
