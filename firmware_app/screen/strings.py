"""The screen's own words (buttons, headings, notices, the prompts and labels the controller puts in its
state) in English and Simplified Chinese, in one table for the controller and the UI alike.

The pack holds what the bank says; this holds what the kiosk's furniture says. Every key has both languages
(a test checks), so switching language never leaves an English button on a Chinese screen.
"""

from __future__ import annotations

from firmware_app.events import Language

STRINGS: dict[str, dict[Language, str]] = {
    "touch_to_start": {"en": "Touch the screen to start", "zh": "请触摸屏幕开始"},
    "or_say": {"en": 'or say "{wake_word}"', "zh": "或说“{wake_word}”"},
    "attract_welcome": {"en": "Welcome to {brand}", "zh": "欢迎光临{brand}"},
    "attract_offer": {
        "en": "Questions, lost cards, appointments: I can help, or fetch a colleague.",
        "zh": "咨询、挂失、预约，我都可以帮您，也可以为您请同事过来。",
    },
    "ai_assistant": {"en": "AI assistant", "zh": "AI 助手"},
    "language_switch": {"en": "中文", "zh": "English"},
    "large_text": {"en": "Aa Large text", "zh": "Aa 大字"},
    "elderly": {"en": "Senior mode", "zh": "长辈模式"},
    "home": {"en": "Home", "zh": "首页"},
    "back": {"en": "Back", "zh": "返回"},
    "how_can_i_help": {"en": "How can I help?", "zh": "有什么可以帮您？"},
    "speak": {"en": "Tap to speak", "zh": "点击说话"},
    "type_question": {"en": "Type a question", "zh": "输入问题"},
    "camera": {"en": "Technician: photo of a part", "zh": "技术人员：拍摄部件"},
    "talk_to_person": {"en": "Talk to a person", "zh": "请工作人员"},
    "finish": {"en": "That's all, thanks", "zh": "结束，谢谢"},
    "conversation": {"en": "Conversation", "zh": "对话记录"},
    "ask_more": {"en": "Ask something else", "zh": "问其他问题"},
    "topics": {"en": "Topics", "zh": "主题"},
    "more": {"en": "More", "zh": "更多"},
    "previous": {"en": "Previous", "zh": "上一页"},
    "next": {"en": "Next", "zh": "下一页"},
    "earlier": {"en": "Earlier messages", "zh": "更早的消息"},
    "later": {"en": "Latest messages", "zh": "最新消息"},
    "steps": {"en": "What to do", "zh": "操作步骤"},
    "take_away": {"en": "Scan to take this with you", "zh": "扫码带走"},
    "your_reference": {"en": "Your reference", "zh": "您的参考编号"},
    "send": {"en": "Send", "zh": "发送"},
    "delete": {"en": "Delete", "zh": "删除"},
    "space": {"en": "Space", "zh": "空格"},
    "clear": {"en": "Clear", "zh": "清除"},
    "cancel": {"en": "Cancel", "zh": "取消"},
    "type_here": {"en": "Type here", "zh": "在此输入"},
    "listening": {"en": "Listening…", "zh": "正在聆听…"},
    "thinking": {"en": "Thinking…", "zh": "正在思考…"},
    "speaking": {"en": "Speaking…", "zh": "正在播报…"},
    "you_said": {"en": "You", "zh": "您"},
    "suggestions": {"en": "You can also tap:", "zh": "您也可以点选："},
    "ticket_title": {"en": "All done", "zh": "已办理"},
    "ticket_keep": {"en": "Keep this reference for any follow-up.", "zh": "请保留此编号以便后续查询。"},
    "handoff_title": {"en": "A colleague is coming", "zh": "同事马上就来"},
    # The staff console's answer on the hand-off screen, by the state of the ticket (``HandoffUpdate``).
    "colleague_coming": {"en": "{colleague} is on the way to you", "zh": "{colleague} 正在赶来为您服务"},
    "colleague_pending": {
        "en": "{colleague} is looking into your request. Please wait a moment.",
        "zh": "{colleague} 正在处理您的请求，请稍候。",
    },
    "colleague_closed": {
        "en": "Your request {reference} is closed. Thank you.",
        "zh": "您的请求 {reference} 已处理完毕，谢谢。",
    },
    "rating_question": {"en": "How did we do today?", "zh": "您对本次服务满意吗？"},
    "rating_hint": {"en": "1 = poor, 5 = excellent", "zh": "1 = 很差，5 = 很好"},
    "skip": {"en": "Skip", "zh": "跳过"},
    "thanks_title": {"en": "Thank you!", "zh": "谢谢！"},
    "thanks_body": {
        "en": "Your conversation has been cleared from this screen.",
        "zh": "您的对话内容已从屏幕上清除。",
    },
    "idle_warning": {"en": "Are you still there?", "zh": "您还在吗？"},
    "idle_warning_body": {
        "en": "For your privacy this conversation will be cleared soon. Touch the screen or say anything to go on.",
        "zh": "为保护您的隐私，本次对话即将清除。轻触屏幕或说句话即可继续。",
    },
    "still_here": {"en": "I'm still here", "zh": "我还在"},
    "end_now": {"en": "End now", "zh": "立即结束"},
    "camera_title": {"en": "Hold the part in the frame", "zh": "请将部件置于取景框内"},
    "camera_hint": {
        "en": "Fill the frame, keep it still, good light, no glare.",
        "zh": "让部件填满画面，保持稳定，光线充足，避免反光。",
    },
    "take_photo": {"en": "Take photo", "zh": "拍照"},
    "retake": {"en": "Retake", "zh": "重拍"},
    "no_camera": {
        "en": "No camera picture. Check the camera, or ask a colleague.",
        "zh": "没有摄像头画面。请检查摄像头，或请同事协助。",
    },
    "no_microphone": {
        "en": "Voice is not available on this kiosk. Please type or tap a topic.",
        "zh": "本机暂不支持语音，请输入文字或点选主题。",
    },
    "not_heard": {
        "en": "I didn't hear anything. Tap the microphone and speak, or type.",
        "zh": "我没有听到声音。请点击麦克风后说话，或输入文字。",
    },
    "no_speech_recognition": {
        "en": "I heard you, but speech recognition is not installed on this kiosk yet. Please type or tap a topic.",
        "zh": "我听到了您的声音，但本机尚未安装语音识别。请输入文字或点选主题。",
    },
    "not_understood_audio": {
        "en": "Sorry, I couldn't make out what you said. Please try again, or type.",
        "zh": "抱歉，我没有听清您说的话。请再说一次，或输入文字。",
    },
    "photo_ok": {"en": "Photo is clear", "zh": "照片清晰"},
    "photo_retake": {"en": "Please take the photo again", "zh": "请重新拍摄"},
    "reason_blurred": {"en": "It is blurred: hold the part still.", "zh": "照片模糊：请保持部件稳定。"},
    "reason_too_dark": {"en": "It is too dark: move to better light.", "zh": "光线太暗：请到光线更好的地方。"},
    "reason_too_bright": {"en": "It is too bright or glaring: tilt the part.", "zh": "光线过强或反光：请倾斜部件。"},
    "reason_not_in_frame": {
        "en": "The part is not in the frame: bring it to the middle.",
        "zh": "部件不在画面中：请移到画面中央。",
    },
    "photo_note": {"en": "Note for the inspector", "zh": "给检查人员的说明"},
    "product": {"en": "Product", "zh": "产品"},
    "analysing": {"en": "Analysing the photo…", "zh": "正在分析照片…"},
    "analysing_hint": {"en": "Looking for defects as: {profile}", "zh": "正在按“{profile}”查找缺陷"},
    "checked_as": {"en": "Checked as: {profile}", "zh": "检测类型：{profile}"},
    "verdict_defect": {"en": "Defect found", "zh": "发现缺陷"},
    "verdict_no_defect": {"en": "No defect found", "zh": "未发现缺陷"},
    "verdict_not_recognised": {"en": "Not recognised", "zh": "无法识别"},
    "verdict_unavailable": {"en": "Recognition unavailable", "zh": "识别功能暂不可用"},
    "finding": {"en": "{name}: {percent} sure", "zh": "{name}：置信度 {percent}"},
    "no_defect_hint": {
        "en": "If you still see a problem, file the photo with a note for a colleague.",
        "zh": "如果您仍看到问题，请附上说明提交照片，由同事检查。",
    },
    "not_recognised_hint": {
        "en": "This does not look like {profile}. Retake the photo closer, filling the frame, in even light.",
        "zh": "这看起来不像“{profile}”。请靠近、让部件填满画面，并在均匀光线下重拍。",
    },
    "other_profile_hint": {
        "en": "Or choose another product on the camera screen.",
        "zh": "或在拍照界面选择其他产品。",
    },
    "unavailable_hint": {
        "en": "The defect model could not be loaded. You can still file the photo with a note for a colleague.",
        "zh": "缺陷识别模型无法加载。您仍可附上说明提交照片，由同事检查。",
    },
    "file_photo": {"en": "File a ticket", "zh": "提交工单"},
    "pin_title": {"en": "Staff only", "zh": "仅限员工"},
    "pin_prompt": {"en": "Enter the staff PIN", "zh": "请输入员工密码"},
    "wrong_pin": {"en": "Wrong PIN. Try again.", "zh": "密码错误，请重试。"},
    # The lock-out grows with each one (a minute, then doubling up to an hour): no promise of how long.
    "locked": {
        "en": "Too many wrong PINs: the staff screen is locked for a while. Try again later.",
        "zh": "错误次数过多，员工界面已暂时锁定，请稍后再试。",
    },
    "storage_full": {
        "en": "Storage full: the photo was not saved. Please ask a member of staff.",
        "zh": "存储空间已满，照片未保存。请联系工作人员。",
    },
    "admin_title": {"en": "Kiosk status", "zh": "设备状态"},
    "device_id": {"en": "Device", "zh": "设备"},
    "pack": {"en": "Knowledge pack", "zh": "知识包"},
    "models": {"en": "Models", "zh": "模型"},
    "sync": {"en": "Fleet sync", "zh": "同步"},
    "queue_depth": {"en": "Tickets waiting to sync", "zh": "待同步工单"},
    "tickets_today": {"en": "Tickets today", "zh": "今日工单"},
    "recent_errors": {"en": "Recent problems", "zh": "最近的问题"},
    "no_errors": {"en": "None", "zh": "无"},
    "restart": {"en": "Restart pipeline", "zh": "重启服务"},
    "restarted": {"en": "Pipeline restarted.", "zh": "服务已重启。"},
    "close": {"en": "Close", "zh": "关闭"},
    "staff": {"en": "Staff", "zh": "员工"},
    "no_preview": {"en": "No camera picture", "zh": "没有摄像头画面"},
    "ok": {"en": "OK", "zh": "确定"},
    "sync_not_configured": {"en": "not configured", "zh": "未配置"},
    "sync_connecting": {"en": "connecting…", "zh": "正在连接…"},
    "sync_online": {"en": "online", "zh": "在线"},
    "sync_offline": {"en": "offline", "zh": "离线"},
    # Signed updates on the staff screen: the releases serving now, and the updater's latest report.
    "releases": {"en": "Installed release", "zh": "已安装版本"},
    "as_shipped": {"en": "as shipped", "zh": "出厂版本"},
    "update": {"en": "Update", "zh": "更新"},
    "update_none": {"en": "none since start", "zh": "启动后无更新"},
    "a_release": {"en": "a release", "zh": "一个版本"},
    "update_downloading": {"en": "downloading {release}: {percent}%", "zh": "正在下载 {release}：{percent}%"},
    "update_verifying": {"en": "checking {release}…", "zh": "正在校验 {release}…"},
    "update_installing": {"en": "installing {release}…", "zh": "正在安装 {release}…"},
    "update_installed": {"en": "{release} installed", "zh": "{release} 已安装"},
    "update_rolled_back": {"en": "{release} rolled back: {reason}", "zh": "{release} 已回滚：{reason}"},
    "update_failed": {"en": "{release} failed: {reason}", "zh": "{release} 失败：{reason}"},
    "update_refused": {"en": "refused {release}: {reason}", "zh": "已拒绝 {release}：{reason}"},
    "reason_malformed": {"en": "not a valid release", "zh": "版本格式无效"},
    "reason_bad_signature": {"en": "bad signature", "zh": "签名无效"},
    "reason_expired": {"en": "expired", "zh": "已过期"},
    "reason_kiosk_too_old": {"en": "needs newer kiosk software", "zh": "需要更新的设备软件"},
    "reason_wrong_channel": {"en": "for another channel", "zh": "不属于本频道"},
    "reason_oversize": {"en": "too large", "zh": "文件过大"},
    "reason_replay": {"en": "not newer than one already seen", "zh": "不比已收到的版本新"},
    "reason_unavailable": {"en": "not on the server", "zh": "服务器上没有"},
    "reason_hash_mismatch": {"en": "download corrupted", "zh": "下载内容损坏"},
    "reason_unpack_failed": {"en": "could not unpack", "zh": "无法解包"},
    "reason_self_test_failed": {"en": "self-test failed", "zh": "自检失败"},
    "reason_interrupted": {"en": "interrupted", "zh": "被中断"},
    # Put in the state by the controller: form prompts, yes/no buttons, the filed photo's card.
    "staff_pin": {"en": "Staff PIN", "zh": "员工密码"},
    "photo_note_prompt": {
        "en": "Add a short note for the colleague who inspects the part (what you saw, the part number):",
        "zh": "请为检查部件的同事写一句说明（看到的问题、部件编号）：",
    },
    "photo_filed_title": {"en": "Photo sent for inspection", "zh": "照片已提交检查"},
    "photo_filed": {
        "en": "Your photo and note are filed as ticket {reference}. A colleague will inspect the part.",
        "zh": "您的照片和说明已登记为工单 {reference}，同事会检查该部件。",
    },
    # Teaching the kiosk a new part from photos of good ones (behind the staff PIN), and its threshold.
    "teach_part": {"en": "Teach a new part", "zh": "教新零件"},
    "part_title_prompt": {
        "en": "What is this part called? The camera screen will show this name.",
        "zh": "这个零件叫什么？拍照界面会显示这个名称。",
    },
    "default_part_title": {"en": "Part {number}", "zh": "零件 {number}"},
    "teach_title": {"en": "Teach: {title}", "zh": "教新零件：{title}"},
    "teach_hint": {
        "en": "Photograph good parts only. Turn or move the part a little between photos.",
        "zh": "只拍合格的零件。每拍一张，稍微转动或移动零件。",
    },
    "teach_count": {"en": "{count} of at least {least} photos", "zh": "已拍 {count} 张，至少需要 {least} 张"},
    "teach_count_enough": {
        "en": "{count} photos: enough to learn (at most {most})",
        "zh": "已拍 {count} 张，可以学习了（最多 {most} 张）",
    },
    "teach_count_full": {"en": "{count} photos: that is the most it takes", "zh": "已拍 {count} 张，已达上限"},
    "teach_not_kept": {"en": "That photo was not kept. {reason}", "zh": "刚才的照片未保留。{reason}"},
    "learn_part": {"en": "Learn this part", "zh": "学习这个零件"},
    "learning": {"en": "Learning {title}…", "zh": "正在学习“{title}”…"},
    "learning_hint": {
        "en": "This takes a few seconds. The kiosk looks at every photo of the good part.",
        "zh": "需要几秒钟，设备正在查看每一张合格零件的照片。",
    },
    "learned_title": {"en": "Learned: {title}", "zh": "已学会：{title}"},
    "learned_photos": {"en": "Learned from {count} photos.", "zh": "已从 {count} 张照片中学习。"},
    "learned_left_out": {"en": "Left out:", "zh": "未采用："},
    "left_out_photo": {"en": "Photo {number}: {reason}", "zh": "第 {number} 张：{reason}"},
    "learned_threshold": {"en": "Threshold: {threshold}", "zh": "判定阈值：{threshold}"},
    "learned_hint": {
        "en": "It is now a product on the camera screen. Staff can make it stricter or looser on the staff screen.",
        "zh": "它已出现在拍照界面的产品中。员工可在员工界面调严或调松。",
    },
    "photograph_part": {"en": "Photograph a part", "zh": "拍摄部件"},
    "teach_failed": {"en": "Could not learn this part", "zh": "无法学习这个零件"},
    "teach_failed_photos": {
        "en": "The photos could not make a profile of the part. Take more photos of good parts and try again.",
        "zh": "这些照片无法生成零件档案。请多拍几张合格零件的照片后重试。",
    },
    "teach_no_model": {
        "en": "The model that learns parts is missing or damaged on this kiosk. Ask for its models to be restored.",
        "zh": "本机用于学习零件的模型缺失或已损坏。请联系恢复模型。",
    },
    "teach_no_folder": {
        "en": "This kiosk has no folder to keep taught parts in.",
        "zh": "本机没有保存零件档案的文件夹。",
    },
    "teach_not_saved": {
        "en": "The part could not be saved: the kiosk's storage may be full. Please ask a colleague.",
        "zh": "零件档案无法保存，设备存储空间可能已满。请联系同事。",
    },
    "teach_more": {"en": "Take more photos", "zh": "继续拍照"},
    "parts_button": {"en": "Taught parts", "zh": "已教零件"},
    "parts_title": {"en": "Parts taught on this kiosk", "zh": "本机已教的零件"},
    "parts_none": {
        "en": "No parts have been taught on this kiosk yet. Use Teach a new part on the camera screen.",
        "zh": "本机还没有教过零件。请在拍照界面点“教新零件”。",
    },
    "part_threshold": {"en": "Threshold {factor}× as learned", "zh": "阈值为学习值的 {factor} 倍"},
    "part_flags": {
        "en": "Flags {flagged} of {photos} of its own good photos",
        "zh": "会把 {photos} 张合格照片中的 {flagged} 张判为缺陷",
    },
    "stricter": {"en": "Stricter", "zh": "更严格"},
    "looser": {"en": "Looser", "zh": "更宽松"},
    "yes": {"en": "Yes", "zh": "是"},
    "no": {"en": "No", "zh": "否"},
}


def t(key: str, language: Language, **values: str) -> str:
    """The screen text ``key`` in ``language``, with ``{placeholders}`` filled."""
    text = STRINGS[key][language]
    return text.format(**values) if values else text


# The staff screen's "Service" row (issue 20): what runs degraded and what serves instead, in plain words.
STRINGS.update(
    {
        "health": {"en": "Service", "zh": "服务状态"},
        "health_ok": {"en": "Full service", "zh": "全部功能正常"},
        "health_degraded": {
            "en": "{capability}: {fallback} (since {since})",
            "zh": "{capability}：{fallback}（自 {since}）",
        },
        "health_intent_model": {"en": "Understanding questions", "zh": "问题理解"},
        "health_microphone": {"en": "Microphone", "zh": "麦克风"},
        "health_speech_recognition": {"en": "Speech recognition", "zh": "语音识别"},
        "health_speech_output": {"en": "Kiosk voice", "zh": "语音播报"},
        "health_loudspeaker": {"en": "Loudspeaker", "zh": "扬声器"},
        "health_wake_word": {"en": "Wake word", "zh": "唤醒词"},
        "health_camera": {"en": "Camera", "zh": "摄像头"},
        "health_defect_models": {"en": "Defect recognition", "zh": "缺陷识别"},
        "health_storage": {"en": "Storage", "zh": "存储空间"},
        "health_broker": {"en": "Link to the office", "zh": "与后台的连接"},
        "health_fallback_keywords": {"en": "answering by keyword search", "zh": "改用关键词查找回答"},
        "health_fallback_touch_only": {"en": "customers type and tap instead", "zh": "顾客改用输入和点按"},
        "health_fallback_text_only": {"en": "replies shown, not spoken", "zh": "回答只显示，不播报"},
        "health_fallback_tap_to_talk": {"en": "tap the microphone to talk", "zh": "请点麦克风按钮说话"},
        "health_fallback_no_photos": {"en": "tickets filed without a photo", "zh": "工单不附照片"},
        "health_fallback_no_verdict": {"en": "photos filed without a verdict", "zh": "照片不附识别结果"},
        "health_fallback_photos_refused": {"en": "new photos refused", "zh": "暂不接收新照片"},
        "health_fallback_outbox": {"en": "tickets wait on the kiosk", "zh": "工单暂存本机，连接后发送"},
    }
)

# Speech mode (kiosk_ui.speech_mode): the roles read after a widget's text, and what the reader says of itself.
STRINGS.update(
    {
        "reader_on": {
            "en": "Speech mode. Use the arrow keys or say next and previous to move, Enter or select to choose, "
            "F1 or help for help.",
            "zh": "语音模式。用方向键或说“下一个”“上一个”移动，按回车或说“选择”确认，按F1或说“帮助”听说明。",
        },
        "reader_off": {"en": "Speech mode off.", "zh": "语音模式已关闭。"},
        "reader_help": {
            "en": "Down arrow or next: the next item. Up arrow or previous: the item before. Enter or select: "
            "choose it. Escape or back: go back. F2 or repeat: say it again. F3 or stop: stop talking. Plus and "
            "minus, or louder and quieter: the volume. Talk to a person is on every screen.",
            "zh": "下方向键或说“下一个”：下一项。上方向键或说“上一个”：上一项。回车或说“选择”：选中。"
            "Esc键或说“返回”：返回。F2或说“重复”：再说一遍。F3或说“停”：停止朗读。加号和减号，"
            "或说“大声点”“小声点”：调节音量。每个页面都可以请工作人员。",
        },
        "reader_button": {"en": "button", "zh": "按钮"},
        "reader_selected": {"en": "selected", "zh": "已选中"},
        "reader_field": {"en": "text box", "zh": "输入框"},
        "reader_empty": {"en": "empty", "zh": "空"},
        "reader_photo": {"en": "photo", "zh": "照片"},
        "reader_qr": {"en": "QR code to scan with your phone", "zh": "可用手机扫描的二维码"},
        "reader_keys": {
            "en": "Keyboard, {count} keys. Select it to go key by key, or type on the keypad.",
            "zh": "键盘，共{count}个键。选中后可逐个按键，也可以直接用按键输入。",
        },
        "reader_keys_left": {"en": "Left the keyboard.", "zh": "已离开键盘。"},
        "reader_volume": {"en": "Volume {level} of {top}.", "zh": "音量{level}，最大{top}。"},
        "reader_first": {"en": "First item.", "zh": "已是第一项。"},
        "reader_last": {"en": "Last item.", "zh": "已是最后一项。"},
    }
)
