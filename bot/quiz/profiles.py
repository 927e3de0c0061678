"""The person behind the records: real name, employer, position and, optionally, registration number.

Given once, with consent, before the first credited attempt; every attempt freezes a copy, so a later change
(or a Telegram rename) never alters a record or a certificate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.storage import Store, now

CONSENT = ("您的姓名、单位、岗位和注册号只用于继续教育学时记录和合格证明：管理员可导出给您的单位，"
           "凭验证码核验证明的人能看到证明上的信息。排行榜只在您同意后显示，且姓名打码。")
USAGE = "/profile 姓名 单位 [岗位] [注册号]，例如：/profile 张三 广州某建设集团有限公司 质量员 粤144XXXXXX"
_NAME = re.compile(r"^[\u4e00-\u9fffA-Za-z·.\s]{2,20}$")
_REG_NO = re.compile(r"^[\w\-（）()]{4,30}$")


class ProfileError(ValueError):
    """The profile given is incomplete or malformed; the message says what to fix, in Chinese."""


@dataclass(frozen=True)
class Profile:
    user_id: int
    real_name: str
    employer: str
    position: str
    reg_no: str
    consent_at: str

    def frozen(self) -> dict[str, str]:
        """The columns an attempt keeps."""
        return {"person_name": self.real_name, "employer": self.employer, "position": self.position,
                "reg_no": self.reg_no}

    def describe(self) -> str:
        reg = f"，注册号 {self.reg_no}" if self.reg_no else ""
        return f"{self.real_name}，{self.employer}，{self.position or '未填岗位'}{reg}"


def check_name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name) or re.search(r"\d", name):
        raise ProfileError(f"姓名“{name[:20]}”不像真实姓名（2–20 个汉字或字母）。")
    return name


def check_employer(employer: str) -> str:
    employer = employer.strip()
    if not 2 <= len(employer) <= 60:
        raise ProfileError("单位名称应为 2–60 个字。")
    return employer


def check_position(position: str) -> str:
    position = position.strip()
    if len(position) > 20:
        raise ProfileError("岗位最多 20 个字。")
    return position


def check_reg_no(reg_no: str) -> str:
    reg_no = reg_no.strip()
    if reg_no and not _REG_NO.match(reg_no):
        raise ProfileError(f"注册号“{reg_no[:30]}”格式不对（4–30 位字母、数字或连字符）。")
    return reg_no


def parse(args: str, fallback_position: str = "") -> tuple[str, str, str, str]:
    """``姓名 单位 [岗位] [注册号]`` → (name, employer, position, reg_no); raises ProfileError."""
    words = args.split()
    if len(words) < 2:
        raise ProfileError(f"请一次写全：{USAGE}")
    if len(words) > 4:
        raise ProfileError(f"内容多于 4 项（姓名、单位、岗位、注册号之间用空格分开，各项内部不要有空格）。{USAGE}")
    position = words[2] if len(words) > 2 else fallback_position
    return (check_name(words[0]), check_employer(words[1]), check_position(position),
            check_reg_no(words[3] if len(words) > 3 else ""))


def mask(name: str) -> str:
    """张三 → 张*, 欧阳明华 → 欧**: the leaderboard never shows a full name."""
    name = name.strip()
    if not name:
        return "匿名"
    return name[0] + "*" * min(2, max(1, len(name) - 1))


class Profiles:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, user_id: int) -> Profile | None:
        row = self.store.one("select * from profiles where user_id = ?", [user_id])
        if row is None:
            return None
        return Profile(row["user_id"], row["real_name"], row["employer"], row["position"], row["reg_no"],
                       row["consent_at"])

    def save(self, user_id: int, real_name: str, employer: str, position: str, reg_no: str = "") -> Profile:
        """Store the profile; giving it is consenting to its use as CONSENT says (the time is kept)."""
        with self.store.lock, self.store.db.conn:
            existing = self.get(user_id)
            self.store.db["profiles"].upsert({
                "user_id": user_id, "real_name": real_name, "employer": employer, "position": position,
                "reg_no": reg_no, "consent_at": existing.consent_at if existing else now(), "updated_at": now(),
            }, pk="user_id")
        return self.get(user_id)  # type: ignore[return-value]

    def delete(self, user_id: int) -> bool:
        """Withdraw: future attempts are practice until a profile is given again (records keep their copy)."""
        with self.store.lock, self.store.db.conn:
            return self.store.db.execute("delete from profiles where user_id = ?", [user_id]).rowcount > 0
