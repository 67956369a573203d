"""Monitoring a deployed model: the prediction log joined to observed outcomes, per period."""
