"""The console's words in English and Simplified Chinese; a page asks ``text(language)`` for its table."""

from __future__ import annotations

from typing import Literal

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")

_WORDS: dict[str, tuple[str, str]] = {
    "console": ("Kestrel staff console", "红隼员工控制台"),
    "queue": ("Hand-off queue", "转人工队列"),
    "tickets": ("Tickets", "工单"),
    "devices": ("Kiosks", "自助终端"),
    "rollouts": ("Rollouts", "更新发布"),
    "dashboard": ("Dashboard", "服务看板"),
    "audit": ("Audit", "审计日志"),
    "logout": ("Log out", "退出"),
    "login": ("Log in", "登录"),
    "username": ("User name", "用户名"),
    "password": ("Password", "密码"),
    "waiting": ("waiting", "等待中"),
    "nobody_waiting": ("Nobody is waiting.", "目前没有顾客等待。"),
    "kiosk": ("Kiosk", "终端"),
    "language": ("Language", "语言"),
    "reason": ("Reason", "原因"),
    "status": ("Status", "状态"),
    "summary": ("Summary", "摘要"),
    "wants": ("Wants", "需求"),
    "tried": ("The kiosk already answered", "终端已回答"),
    "mood": ("Mood", "情绪"),
    "transcript": ("Transcript", "对话记录"),
    "suggested": ("Suggested answers", "建议回答"),
    "claim": ("I'm coming", "我马上来"),
    "pending": ("Set pending", "设为待处理"),
    "close": ("Close", "关闭"),
    "note": ("Note", "备注"),
    "notes": ("Notes", "备注记录"),
    "assignee": ("Taken by", "处理人"),
    "photos": ("Photos", "照片"),
    "inspection": ("Inspection", "检测结果"),
    "online": ("online", "在线"),
    "offline": ("offline", "离线"),
    "last_seen": ("Last seen", "最近在线"),
    "versions": ("Versions", "版本"),
    "pack": ("Pack", "知识包"),
    "queue_depth": ("Queue", "待发队列"),
    "config": ("Remote configuration", "远程配置"),
    "save": ("Save and send", "保存并发送"),
    "release": ("Release", "版本"),
    "start_rollout": ("Start rollout", "开始发布"),
    "group": ("Group", "分组"),
    "canary": ("Canary %", "灰度比例 %"),
    "max_failure": ("Max failure %", "最大失败率 %"),
    "pause": ("Pause", "暂停"),
    "resume": ("Resume", "继续"),
    "abort": ("Abort", "中止"),
    "visits": ("Visits", "访问"),
    "resolution_rate": ("Resolved by the kiosk", "终端解决率"),
    "handoff_rate": ("Handed off", "转人工率"),
    "rating": ("Mean rating", "平均评分"),
    "top_intents": ("Top questions", "热门问题"),
    "gaps": ("Knowledge gaps: questions the kiosk could not answer", "知识缺口：终端无法回答的问题"),
    "time_to_claim": ("Median time to claim", "平均接单时间（中位数）"),
    "time_to_close": ("Median time to close", "平均结单时间（中位数）"),
    "minutes": ("min", "分钟"),
    "kiosk_told": ("The kiosk was told.", "已通知终端。"),
    "kiosk_not_told": ("The kiosk could not be told (broker unreachable).", "无法通知终端（消息服务器不可达）。"),
    "created": ("Created", "创建时间"),
    "type": ("Type", "类型"),
    "priority": ("Priority", "优先级"),
    "filter": ("Filter", "筛选"),
    "since": ("Since", "起始日期"),
    "who": ("Who", "操作人"),
    "what": ("What", "操作"),
    "when": ("When", "时间"),
    "target": ("Target", "对象"),
    "progress": ("Progress", "进度"),
    "health": ("Health", "运行状况"),
}


def text(language: str) -> dict[str, str]:
    """The console's words in ``language`` (English for anything else)."""
    index = 1 if language == "zh" else 0
    return {key: pair[index] for key, pair in _WORDS.items()}
