"""The question bank in knowledge/quizzes/*.yaml, and its validation."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

TYPES = {"single", "multiple", "truefalse"}
TRUE_FALSE = ["正确", "错误"]
QUESTION_LIMIT, OPTION_LIMIT, EXPLANATION_LIMIT = 300, 100, 200
POSITION_SHARE_LIMIT = 0.40  # a bank whose answers sit more often than this in one position warns
TRUE_FALSE_SHARE_LIMIT = 0.60  # … or whose true/false answers are more often than this one way


@dataclass(frozen=True)
class Question:
    id: str
    type: str
    question: str
    options: tuple[str, ...]
    answer: tuple[int, ...]
    explanation: str
    doc: str
    loc: str
    topic: str = ""
    roles: tuple[str, ...] = ()
    difficulty: int = 1
    generated: bool = False

    @property
    def citation(self) -> str:
        return f"《{self.doc}》{self.loc}"

    def is_correct(self, chosen: list[int] | tuple[int, ...]) -> bool:
        return sorted(set(chosen)) == sorted(self.answer)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Question:
        return cls(**{**data, "options": tuple(data["options"]), "answer": tuple(data["answer"]),
                      "roles": tuple(data["roles"])})


@dataclass
class BankReport:
    questions: list[Question] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the bank loads, but its answer keys give hints


def _share(counter: Counter, total: int) -> tuple[object, float]:
    key, count = counter.most_common(1)[0]
    return key, count / total


def balance_warnings(questions: list[Question], minimum: int = 5) -> list[str]:
    """Where the answer keys lean one way: one position holding > 40 % of the single-choice answers, one
    answer set > 40 % of the multiple-choice ones, or > 60 % of true/false answers the same."""
    warnings: list[str] = []
    singles = [q.answer[0] for q in questions if q.type == "single"]
    if len(singles) >= minimum:
        position, share = _share(Counter(singles), len(singles))
        if share > POSITION_SHARE_LIMIT:
            warnings.append(f"单选题的正确答案有 {share:.0%} 在选项 {chr(65 + int(position))}"
                            f"（{len(singles)} 题；应分散在各个位置，不超过 {POSITION_SHARE_LIMIT:.0%}）")
    multiples = [q.answer for q in questions if q.type == "multiple"]
    if len(multiples) >= minimum:
        answer, share = _share(Counter(multiples), len(multiples))
        if share > POSITION_SHARE_LIMIT:
            letters = "".join(chr(65 + i) for i in answer)  # type: ignore[union-attr]
            warnings.append(f"多选题的正确答案有 {share:.0%} 是 {letters}（{len(multiples)} 题；"
                            f"不应超过 {POSITION_SHARE_LIMIT:.0%}）")
    verdicts = [q.options[q.answer[0]] for q in questions if q.type == "truefalse"]
    if len(verdicts) >= minimum:
        verdict, share = _share(Counter(verdicts), len(verdicts))
        if share > TRUE_FALSE_SHARE_LIMIT:
            warnings.append(f"判断题有 {share:.0%} 的答案是“{verdict}”（{len(verdicts)} 题；"
                            f"正确与错误应大致各半，一方不超过 {TRUE_FALSE_SHARE_LIMIT:.0%}）")
    return warnings


def _question(raw: dict, where: str, faults: list[str]) -> Question | None:
    qid = str(raw.get("id") or "").strip()
    label = f"{where} {qid or '(无 id)'}"
    start = len(faults)
    if not qid:
        faults.append(f"{label}：缺少 id")
    kind = raw.get("type")
    if kind not in TYPES:
        faults.append(f"{label}：type 应为 single、multiple 或 truefalse，而不是 {kind!r}")
    text = str(raw.get("question") or "").strip()
    if not text:
        faults.append(f"{label}：缺少题干")
    elif len(text) > QUESTION_LIMIT:
        faults.append(f"{label}：题干超过 {QUESTION_LIMIT} 字（{len(text)}）")
    options = [str(o) for o in (raw.get("options") or (TRUE_FALSE if kind == "truefalse" else []))]
    if not 2 <= len(options) <= 10:
        faults.append(f"{label}：选项应有 2–10 个（现有 {len(options)} 个）")
    if len(set(options)) != len(options):
        faults.append(f"{label}：选项重复")
    for option in options:
        if len(option) > OPTION_LIMIT or not option.strip():
            faults.append(f"{label}：选项为空或超过 {OPTION_LIMIT} 字：{option[:20]}")
    answer = raw.get("answer")
    answer = answer if isinstance(answer, list) else [answer]
    if not all(isinstance(a, int) and 0 <= a < len(options) for a in answer):
        faults.append(f"{label}：answer 应是选项序号（0 到 {len(options) - 1}）的列表")
    elif kind in {"single", "truefalse"} and len(answer) != 1:
        faults.append(f"{label}：{kind} 题只能有一个正确答案")
    elif kind == "multiple" and len(set(answer)) < 2:
        faults.append(f"{label}：多选题至少两个正确答案")
    explanation = str(raw.get("explanation") or "").strip()
    if not explanation:
        faults.append(f"{label}：缺少解析")
    elif len(explanation) > EXPLANATION_LIMIT or explanation.count("\n") > 2:
        faults.append(f"{label}：解析超过 {EXPLANATION_LIMIT} 字或多于 2 个换行")
    citation = raw.get("citation") or {}
    if not isinstance(citation, dict) or not citation.get("doc") or not citation.get("loc"):
        faults.append(f"{label}：缺少出处 citation: {{doc, loc}}")
        citation = {}
    difficulty = raw.get("difficulty", 1)
    if difficulty not in (1, 2, 3):
        faults.append(f"{label}：difficulty 应为 1、2 或 3")
    if len(faults) > start:
        return None
    return Question(
        id=qid, type=str(kind), question=text, options=tuple(options), answer=tuple(sorted(set(answer))),
        explanation=explanation, doc=str(citation["doc"]), loc=str(citation["loc"]),
        topic=str(raw.get("topic") or ""), roles=tuple(str(r) for r in raw.get("roles") or []),
        difficulty=int(difficulty),
    )


def load_bank(paths: list[Path]) -> BankReport:
    """Load every YAML file (folders are searched); each fault is named with its file and question id, and
    answer keys that lean to one position are warned about."""
    report = BankReport()
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.y*ml")) if path.is_dir() else [path])
    seen: dict[str, str] = {}
    for file in files:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            report.faults.append(f"{file.name}：无法读取（{type(exc).__name__}）")
            continue
        items = data.get("questions") if isinstance(data, dict) else None
        if not isinstance(items, list):
            report.faults.append(f"{file.name}：应包含 questions: 列表")
            continue
        for n, raw in enumerate(items, start=1):
            if not isinstance(raw, dict):
                report.faults.append(f"{file.name} 第 {n} 题：格式不对")
                continue
            question = _question(raw, file.name, report.faults)
            if question is None:
                continue
            if question.id in seen:
                report.faults.append(f"{file.name} {question.id}：id 与 {seen[question.id]} 中的题重复")
                continue
            seen[question.id] = file.name
            report.questions.append(question)
    report.warnings = balance_warnings(report.questions)
    return report
