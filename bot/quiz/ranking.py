"""The leaderboard: only people who opted in, names masked (张*), per campaign."""

from __future__ import annotations

from bot.quiz.profiles import mask
from bot.storage import Store


def leaderboard(store: Store, campaign_id: int | None, limit: int = 10) -> tuple[list[dict], list[dict]]:
    """(people, employers) for a campaign's credited attempts (all credited attempts when None): best score
    and credits per person, average best score per employer; people who did not opt in are left out."""
    where = "a.campaign_id = ?" if campaign_id is not None else "a.campaign_id is not null"
    params: list = [campaign_id] if campaign_id is not None else []
    best = (
        "select a.user_id, max(a.score) as best, sum(case when a.revoked_at = '' then a.credits else 0 end) "
        "as credits, count(*) as attempts, coalesce(p.real_name, u.name, '') as name, "
        "coalesce(p.employer, '') as employer from quiz_attempts a join users u on u.id = a.user_id "
        "left join profiles p on p.user_id = a.user_id "
        f"where a.status = 'finished' and a.mode = 'credited' and u.leaderboard = 1 and {where} group by a.user_id"
    )
    people = store.rows(f"select * from ({best}) order by best desc, credits desc, user_id limit ?", [*params, limit])
    for person in people:
        person["masked"] = mask(person["name"])
    employers = store.rows(
        f"select employer, round(avg(best), 1) as average, count(*) as people from ({best}) where employer != '' "
        "group by employer order by average desc, people desc limit ?", [*params, limit])
    return people, employers
