"""Booking free consults: the public pages, the service and the emails about them."""
