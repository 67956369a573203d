"""The model card's maintenance section: filled from what is known, the deployer's part marked, never guessed."""

import pandas as pd

from recovery_model.cli import main
from recovery_model.evaluation.maintenance import DEPLOYER, maintenance_section
from recovery_model.log.registry import ModelRegistry
from recovery_model.paths import DEFAULT_CHECKPOINT


def test_a_model_as_trained_says_its_local_validity_is_not_yet_measured(default_predictor):
    text = maintenance_section(default_predictor.metadata, None, pd.DataFrame(), None)
    assert "Not yet measured on this hospital's patients" in text and "None: this is the model as trained." in text
    assert text.count(DEPLOYER) == 2  # frequency, and which subgroups matter locally
    assert "The prediction log cannot be read here." in text


def test_the_card_of_an_update_in_use_carries_its_validation_and_who_put_it_there(after_the_alert, empty_log,
                                                                                 tmp_path, monkeypatch, capsys):
    from recovery_model.updating.update import write_update

    monkeypatch.delenv("RECOVERY_CHECKPOINT", raising=False)
    write_update(after_the_alert, tmp_path / "candidate")
    ModelRegistry(empty_log).promote(tmp_path / "candidate", DEFAULT_CHECKPOINT, "Dr Analyst", "O/E 1.9 since April")
    assert main(["models", "card", "--output", str(tmp_path / "card.md")]) == 0
    card = (tmp_path / "card.md").read_text()
    held = after_the_alert.summary["holdout"]["candidate"]
    assert f"On this hospital's {held['patients']:,} latest patients held out ({held['events']} events)" in card
    assert "intercept update of 0.1.0" in card and "promote by Dr Analyst: O/E 1.9 since April." in card
    assert "None in the latest monitoring reports." in card
