"""Scoring patients: the `Predictor` every face uses, validation against the schema, the column vocabulary,
tiers, drift, suggestions and the words for a risk."""
