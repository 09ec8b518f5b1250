"""The patient's side of a live consult: the join link, check-in, waiting room and call."""
