"""The model, loaded once per process, and how a page says so when there is none.

Pages that only describe the model (Home) read its summary, which needs no torch; pages that score
load the Predictor, which Home has already started loading in the background.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import streamlit as st

from recovery_model import RecoveryError
from recovery_model.evaluation.report import EvaluationReport
from recovery_model.evaluation.summary import ModelSummary
from recovery_model.log import MODEL_CHECK_S
from recovery_model.log.database import locate
from recovery_model.log.registry import checkpoint_in_use, shadow_in_use
from recovery_model.settings import environment

from gate import check_access

if TYPE_CHECKING:
    from recovery_model.scoring.predictor import Predictor

FIX_COMMAND = "make model        # or: .venv/bin/recovery train"


_preloads: dict[str, Future] = {}
_preload_lock = threading.Lock()
_preloader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-preload")


def preload_predictor(folder: str | None = None) -> None:
    """Start loading the model in the background, once per checkpoint folder.

    The Home page calls this after it has rendered, so that it starts without importing torch and a
    clinician's first Patient page does not wait for it either.
    """
    folder = folder or folder_in_use()
    with _preload_lock:
        if folder not in _preloads:
            _preloads[folder] = _preloader.submit(_build_predictor, folder)


def _build_predictor(folder: str) -> Predictor:
    from recovery_model.scoring.predictor import Predictor  # imports torch: only pages that score pay for it

    predictor = Predictor.load(folder)
    predictor.warm_up()  # builds the explainer, so the first Patient submit need not wait for it
    return predictor


@st.cache_resource(show_spinner="Loading the model…")
def _load_predictor(folder: str) -> Predictor:
    preload_predictor(folder)
    future = _preloads[folder]
    try:
        return future.result()
    except Exception:
        with _preload_lock:  # a failed load is not kept: after a fix, the next request tries again
            _preloads.pop(folder, None)
        raise


def folder_in_use() -> str:
    """The checkpoint in use: $RECOVERY_CHECKPOINT, else the registry's model in use (asked again at most every
    `MODEL_CHECK_S`: a model promoted or rolled back reaches every page within a minute, without a restart), else
    the committed model."""
    checkpoint = environment().checkpoint
    return str(checkpoint) if checkpoint else _registry_folder(locate().url)


@st.cache_data(ttl=MODEL_CHECK_S, show_spinner=False)
def _registry_folder(database: str) -> str:
    """`database` keys the cache: the answer is that log's registry's."""
    return str(checkpoint_in_use())


def shadow_or_none() -> Predictor | None:
    """The model scoring silently beside the one in use (`recovery models shadow`), or None: asked again at most
    every `MODEL_CHECK_S`, loaded once per process."""
    if environment().checkpoint:
        return None
    folder = _shadow_folder(locate().url)
    return None if folder is None else _load_predictor(folder)


@st.cache_data(ttl=MODEL_CHECK_S, show_spinner=False)
def _shadow_folder(database: str) -> str | None:
    folder = shadow_in_use()
    return None if folder is None else str(folder)


def predictor_or_stop() -> Predictor:
    """The loaded model, or a plain message with the command that fixes it (and the page stops).

    Loaded once per process and checkpoint folder (`folder_in_use`); a failed load is not cached, so fixing the
    checkpoint and reloading the page is enough.
    """
    try:
        return _load_predictor(folder_in_use())
    except RecoveryError as exc:
        _no_model(exc)


@st.cache_resource(show_spinner=False)
def _read_summary(folder: str, written: float) -> ModelSummary:
    return ModelSummary.read(folder)


def summary_or_stop() -> ModelSummary:
    """What the checkpoint says about its model, without loading it (re-read when the checkpoint changes)."""
    try:
        folder = Path(folder_in_use())
        written = (folder / "model.json").stat().st_mtime if (folder / "model.json").is_file() else 0.0
        return _read_summary(str(folder), written)
    except RecoveryError as exc:
        _no_model(exc)


def report_or_none(summary: ModelSummary) -> EvaluationReport | None:
    """The model's evaluation report; None (with a message saying how to write one) when it has none."""
    try:
        report = summary.report
    except RecoveryError as exc:
        st.warning(f"**The evaluation report cannot be shown.** {exc}")
        return None
    if report is None and (update := summary.update) is not None:
        st.info(f"This model is an update of {update['champion']['version']} made on this hospital's patients: its "
                "evaluation is the comparison with that model on this hospital's latest patients, held out, not a "
                "report on the training data.")
    elif report is None:
        st.info("No evaluation report next to this model. Run `.venv/bin/recovery evaluate` to write one.")
    return report


def _no_model(exc: Exception) -> NoReturn:
    st.error(f"**No model is loaded.** {exc}")
    st.markdown("Run this in the project folder, then reload the page:")
    st.code(FIX_COMMAND, language="bash")
    st.stop()


def page_setup(page: str) -> Predictor:
    """A scoring page's first line: refuse a user whose role does not include it, then the model."""
    check_access(page)
    return predictor_or_stop()
