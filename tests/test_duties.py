"""Duties by role, extracted from the indexed text."""

from __future__ import annotations

import subprocess
import sys

from bot.answers.duties import render_duties
from bot.retrieval.glossary import Glossary
from bot.retrieval.roles import RoleMatcher
from tests.conftest import KNOWLEDGE, ROOT

GLOSSARY = Glossary.load(KNOWLEDGE / "glossary.yaml")


def test_subject_of_the_obligation_is_found() -> None:
    matcher = RoleMatcher(GLOSSARY.roles)
    found = matcher.obligations("勘察、设计单位必须按照工程建设强制性标准进行勘察、设计。")
    assert found[0].roles == ("勘察单位", "设计单位")
    items = matcher.obligations("施工单位应当承担下列质量义务：\n（一）建立质量责任制；\n（二）做好检验。")
    assert [o.text for o in items if "施工单位" in o.roles][-2:] == ["（一）建立质量责任制；", "（二）做好检验。"]
    # 施工单位 is the object here; the authority is the subject.
    assert matcher.obligations("主管部门发现施工单位违法的，应当责令改正。") == []
    assert matcher.obligations("建设单位应当在建设单位或者工程监理单位监督下取样。")[0].roles == ("建设单位",)


def test_jargon_resolves_to_roles() -> None:
    assert GLOSSARY.resolve_role("监理") == "工程监理单位"
    assert GLOSSARY.resolve_role("甲方") == "建设单位"
    assert GLOSSARY.resolve_role("项目经理") == "项目负责人"
    assert GLOSSARY.resolve_role("厨师") is None
    assert "工程监理单位" in GLOSSARY.roles_in("我是监理，隐蔽工程验收我要干嘛")


def test_duties_of_the_construction_company(corpus_kb) -> None:
    duties = corpus_kb.duties("施工单位")
    found = {(d.doc, d.label) for d in duties.duties}
    assert ("建设工程质量管理条例", "第二十九条") in found
    assert ("建设工程质量管理条例", "第五十八条") not in found  # penalty articles are not duties
    by_label = {d.label: d for d in duties.duties if d.doc == "建设工程质量管理条例"}
    assert by_label["第二十九条"].penalty == "第六十五条"
    assert by_label["第二十九条"].topic == "第四章 施工单位的质量责任和义务"
    supervisor = corpus_kb.duties("监理")
    assert ("广东省建设工程质量管理条例", "第十一条") in {(d.doc, d.label) for d in supervisor.duties}
    assert corpus_kb.duties("厨师") is None
    text = render_duties(duties, limit=5)
    assert text.startswith("施工单位的义务：共") and "其余" in text and "《建设工程质量管理条例》" in text


def _first_articles(kb, role: str, n: int = 5) -> list[str]:
    duties = kb.duties(role).duties
    return [label for _, label in list(dict.fromkeys((d.doc, d.label) for d in duties))[:n]]


def test_duties_open_with_the_quality_regulation_chapter_of_that_party(corpus_kb) -> None:
    assert _first_articles(corpus_kb, "施工单位") == [
        "第二十五条", "第二十六条", "第二十七条", "第二十八条", "第二十九条"]
    assert _first_articles(corpus_kb, "甲方") == ["第七条", "第八条", "第九条", "第十条", "第十二条"]
    assert _first_articles(corpus_kb, "监理", 4) == ["第三十四条", "第三十五条", "第三十六条", "第三十七条"]
    for role in ("施工单位", "建设单位", "工程监理单位"):
        first = corpus_kb.duties(role).duties[0]
        assert first.doc == "建设工程质量管理条例" and role.removeprefix("工程") in first.topic


def test_duties_leave_out_other_industries_and_fragments(corpus_kb) -> None:
    texts = [d.text for d in corpus_kb.duties("施工单位").duties]
    assert not any("考核不得收费" in t for t in texts)
    assert not any("矿山" in t and "建筑施工" not in t for t in texts)
    assert all(len(t) >= 12 for t in texts)
    supervisor = [(d.doc, d.label) for d in corpus_kb.duties("施工单位").duties]
    assert ("广东省建设工程监理条例", "第十二条") not in supervisor  # the supervisor's duty, 施工单位 is its object


def test_duties_command(env_for) -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "duties", "检测机构"], capture_output=True, text=True,
                            env=env_for, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "检测机构的义务" in result.stdout and "《" in result.stdout
    unknown = subprocess.run([sys.executable, "-m", "bot", "duties", "厨师"], capture_output=True, text=True,
                             env=env_for, cwd=ROOT, timeout=120)
    assert unknown.returncode == 2 and "不认识的角色" in unknown.stderr
