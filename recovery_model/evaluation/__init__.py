"""How good the model is: the evaluation and its typed report, the baselines, the model card, and what a
checkpoint says about its model (`summary`, readable without torch)."""
