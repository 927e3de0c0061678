"""The learned ranking: the committed model is what the fitting script produces from the train split,
explicit references stay deterministic, and questions about law the knowledge does not hold are declined."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bot.evaluation import load_split
from bot.retrieval.fitting import fit
from bot.retrieval.ranker import model_file
from tests.conftest import KNOWLEDGE, ROOT


def test_committed_model_is_what_the_script_fits_on_the_train_split(corpus_kb) -> None:
    retriever = corpus_kb.retriever()
    committed = json.loads(model_file(KNOWLEDGE / "models", retriever.embedder.id).read_text("utf-8"))
    assert committed["fitted_on"]["split"] == "train"
    refit = fit(retriever, load_split(ROOT / "tests" / "benchmark", "train"), progress=lambda m: None)
    for part in ("ranker", "abstain"):
        assert refit[part]["features"] == committed[part]["features"]
        np.testing.assert_allclose(refit[part]["coef"], committed[part]["coef"], atol=2e-3)
    assert refit["abstain"]["threshold"] == pytest.approx(committed["abstain"]["threshold"], abs=2e-3)
    # The index serves with the committed model and says so.
    assert retriever.snapshot.manifest["ranker"]["id"] == committed["id"]


@pytest.mark.parametrize("question", [
    "劳务公司跟工人签的劳动合同到期不续了，要给经济补偿吗？",
    "按照《民法典》，定金数额最多可以约定为合同标的额的多少？",
    "建筑公司增值税开票税率现在是多少",
    "有限责任公司的股东以什么为限对公司承担责任",
    "按《行政许可法》，许可申请受理后多少个工作日内要作出决定？",
    "渣土车闯红灯一次扣几分",
])
def test_questions_about_law_the_knowledge_does_not_hold_are_declined(corpus_kb, question) -> None:
    answer = corpus_kb.answer(question)
    assert not answer.answered
    assert "收录" in answer.text  # says what the knowledge does cover


def test_explicit_reference_outranks_the_model(corpus_kb) -> None:
    hits = corpus_kb.retriever().search("建筑法第五十四条 保修期多久", k=3)
    assert (hits[0].doc, hits[0].label) == ("中华人民共和国建筑法", "第五十四条")
