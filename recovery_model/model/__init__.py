"""The model: its configuration, the batched network and our training loop, the per-member inputs, the
calibrated `RiskModel`, exact explanations, the trust features (range, typicality) and the checkpoint format.

Nothing here reads files of patients or knows about faces; `scoring` builds the `Predictor` on it.
"""
