"""Updating a deployed model from its own log: which update the local outcomes support (closed testing), the
candidate it gives, and how the candidate does against the model in use on later patients neither was fitted on."""
