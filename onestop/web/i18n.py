"""The page chrome in English, Traditional and Simplified Chinese; service text comes translated from the API."""

from __future__ import annotations

LANGUAGES = {"en": "English", "zh-HK": "繁體中文", "zh-CN": "简体中文"}
DEFAULT = "en"
COOKIE = "onestop_lang"

# key: (en, zh-HK, zh-CN)
_MESSAGES: dict[str, tuple[str, str, str]] = {
    "site": ("onestop — government services", "一站通 — 政府服務", "一站通 — 政府服务"),
    "skip": ("Skip to main content", "跳至主要內容", "跳至主要内容"),
    "home": ("Home", "主頁", "主页"),
    "my_applications": ("My applications", "我的申請", "我的申请"),
    "my_data": ("My data", "我的資料", "我的资料"),
    "console": ("Department console", "部門工作台", "部门工作台"),
    "sign_in": ("Sign in", "登入", "登录"),
    "sign_out": ("Sign out", "登出", "登出"),
    "signed_in_as": ("Signed in", "已登入", "已登录"),
    "language": ("Language", "語言", "语言"),
    "search": ("Search", "搜尋", "搜索"),
    "search_label": ("Search for a service", "搜尋服務", "搜索服务"),
    "search_results": ("Search results", "搜尋結果", "搜索结果"),
    "results_for": ("services match", "項服務符合", "项服务符合"),
    "no_results": ("No services match. Check the spelling or try other words.",
                   "沒有相符的服務，請檢查拼寫或改用其他字詞。", "没有相符的服务，请检查拼写或改用其他字词。"),
    "themes": ("Services by topic", "按主題劃分的服務", "按主题划分的服务"),
    "age_groups": ("Services by age group", "按年齡組別劃分的服務", "按年龄组别划分的服务"),
    "weather": ("Weather", "天氣", "天气"),
    "traffic": ("Traffic news", "交通消息", "交通消息"),
    "food_alerts": ("Food safety alerts", "食物安全警示", "食物安全警示"),
    "announcements": ("Announcements", "公告", "公告"),
    "stale": ("This information may be out of date.", "此資訊可能已過時。", "此资讯可能已过时。"),
    "unavailable": ("Not available right now.", "暫時未能提供。", "暂时未能提供。"),
    "next_page": ("Next page", "下一頁", "下一页"),
    "pages": ("More results", "更多結果", "更多结果"),
    "first_page": ("First page", "第一頁", "第一页"),
    "department": ("Department", "部門", "部门"),
    "who_for": ("Who it is for", "適用對象", "适用对象"),
    "eligibility": ("Who can apply", "申請資格", "申请资格"),
    "anyone": ("Anyone can apply.", "任何人均可申請。", "任何人均可申请。"),
    "assurance": ("Sign-in needed", "所需登入", "所需登录"),
    "no_login": ("You do not need to sign in.", "無須登入。", "无须登录。"),
    "steps": ("What you will do", "申請步驟", "申请步骤"),
    "prefilled_note": ("With your consent, we fill in what government already holds.",
                       "經你同意後，我們會填上政府已有的資料。", "经你同意后，我们会填上政府已有的资料。"),
    "start_now": ("Start now", "立即開始", "立即开始"),
    "continue": ("Continue", "繼續", "继续"),
    "back": ("Back", "返回", "返回"),
    "error_summary": ("There is a problem", "出現問題", "出现问题"),
    "day": ("Day", "日", "日"),
    "month": ("Month", "月", "月"),
    "year": ("Year", "年", "年"),
    "yes": ("Yes", "是", "是"),
    "no": ("No", "否", "否"),
    "select": ("Select", "請選擇", "请选择"),
    "hkid_hint": ("For example, A123456(3)", "例如 A123456(3)", "例如 A123456(3)"),
    "date_hint": ("For example, 27 3 2007", "例如 27 3 2007", "例如 27 3 2007"),
    "optional": ("optional", "選填", "选填"),
    "flat": ("Flat", "室", "室"),
    "floor": ("Floor", "樓層", "楼层"),
    "block": ("Block", "座", "座"),
    "building": ("Building", "大廈", "大厦"),
    "street": ("Street", "街道", "街道"),
    "district": ("District", "地區", "地区"),
    "region": ("Region", "區域", "区域"),
    "region_HK": ("Hong Kong Island", "香港島", "香港岛"),
    "region_KLN": ("Kowloon", "九龍", "九龙"),
    "region_NT": ("New Territories", "新界", "新界"),
    "add_another": ("Add another", "新增一項", "新增一项"),
    "remove": ("Remove", "移除", "移除"),
    "entry": ("Entry", "項目", "项目"),
    "prefill_title": ("Use information government already holds", "使用政府已有的資料", "使用政府已有的资料"),
    "prefill_items": ("We will ask for:", "我們會索取：", "我们会索取："),
    "agree_prefill": ("Yes, fill it in for me", "同意，代我填寫", "同意，代我填写"),
    "decline_prefill": ("No, I will type it myself", "不同意，我會自行填寫", "不同意，我会自行填写"),
    "agree": ("I agree", "我同意", "我同意"),
    "decline": ("I do not agree", "我不同意", "我不同意"),
    "stepup_title": ("Confirm it is you", "核實身份", "核实身份"),
    "stepup_text": ("This step needs a stronger sign-in. You will be asked to verify your face.",
                    "此步驟須以較高級別登入，你需要進行人臉核實。", "此步骤须以较高级别登录，你需要进行人脸核实。"),
    "stepup_button": ("Verify my identity", "核實我的身份", "核实我的身份"),
    "check_answers": ("Check your answers before sending", "遞交前請核對你的答案", "递交前请核对你的答案"),
    "change": ("Change", "更改", "更改"),
    "send": ("Accept and send", "確認並遞交", "确认并递交"),
    "confirmation": ("Application complete", "申請已完成", "申请已完成"),
    "reference": ("Your reference number", "你的參考編號", "你的参考编号"),
    "what_next": ("We have sent your application to the department. You can follow it in My applications.",
                  "我們已把你的申請送交部門。你可在「我的申請」查看進度。",
                  "我们已把你的申请送交部门。你可在「我的申请」查看进度。"),
    "not_eligible": ("You cannot apply", "你未能申請", "你未能申请"),
    "status": ("Status", "狀態", "状态"),
    "timeline": ("History", "記錄", "记录"),
    "drafts": ("Applications in progress", "進行中的申請", "进行中的申请"),
    "submitted": ("Sent applications", "已遞交的申請", "已递交的申请"),
    "resume": ("Continue", "繼續", "继续"),
    "view": ("View", "查看", "查看"),
    "withdraw": ("Withdraw application", "撤回申請", "撤回申请"),
    "reply": ("Reply to the department", "回覆部門", "回复部门"),
    "send_reply": ("Send reply", "發送回覆", "发送回复"),
    "none_yet": ("None yet.", "暫時沒有。", "暂时没有。"),
    "profile": ("Your e-ME profile", "你的「智方便」個人資料", "你的「智方便」个人资料"),
    "save": ("Save", "儲存", "保存"),
    "consents": ("Your consents", "你的同意", "你的同意"),
    "revoke": ("Revoke", "撤回同意", "撤回同意"),
    "access_log": ("Who read your data", "誰讀取了你的資料", "谁读取了你的资料"),
    "phone": ("Phone", "電話", "电话"),
    "email": ("Email", "電郵", "电邮"),
    "name_en": ("Name in English", "英文姓名", "英文姓名"),
    "name_zh": ("Name in Chinese", "中文姓名", "中文姓名"),
    "date_of_birth": ("Date of birth", "出生日期", "出生日期"),
    "hkid": ("HKID", "身份證號碼", "身份证号码"),
    "self_declared": ("You can change these yourself.", "你可自行更改以下資料。", "你可自行更改以下资料。"),
    "saved": ("Saved.", "已儲存。", "已保存。"),
    "inbox": ("Inbox", "收件匣", "收件箱"),
    "all": ("All", "全部", "全部"),
    "filter": ("Filter", "篩選", "筛选"),
    "decide": ("Decision", "決定", "决定"),
    "message": ("Message to the applicant", "給申請人的訊息", "给申请人的讯息"),
    "update_status": ("Update status", "更新狀態", "更新状态"),
    "answers": ("Answers", "答案", "答案"),
    "not_found": ("Page not found", "找不到網頁", "找不到网页"),
    "problem": ("Sorry, there is a problem with the service", "抱歉，服務出現問題", "抱歉，服务出现问题"),
    "sign_in_again": ("Please sign in again.", "請重新登入。", "请重新登录。"),
    "staff_only": ("This page is for department staff.", "此頁只供部門職員使用。", "此页只供部门职员使用。"),
    "invalid_date": ("Enter a real date", "請輸入有效日期", "请输入有效日期"),
    "invalid_number": ("Enter a number", "請輸入數字", "请输入数字"),
    "reference_col": ("Reference", "參考編號", "参考编号"),
    "service": ("Service", "服務", "服务"),
    "updated": ("Updated", "更新時間", "更新时间"),
    "purpose": ("Purpose", "目的", "目的"),
    "items": ("Data", "資料", "资料"),
    "outcome": ("Outcome", "結果", "结果"),
    "when": ("When", "時間", "时间"),
    "expires": ("Expires", "屆滿", "届满"),
    "resume_note": ("Keep this browser open to come back to this application: no sign-in holds it.",
                    "此申請無須登入，請保持此瀏覽器開啟以便返回。", "此申请无须登录，请保持此浏览器开启以便返回。"),
}

_INDEX = {"en": 0, "zh-HK": 1, "zh-CN": 2}


def pick(header_or_cookie: str | None) -> str:
    """A supported language from a cookie value or an Accept-Language header; English otherwise."""
    if not header_or_cookie:
        return DEFAULT
    for part in header_or_cookie.split(","):
        tag = part.split(";")[0].strip()
        if tag in LANGUAGES:
            return tag
        lowered = tag.lower()
        if lowered in ("zh-hk", "zh-tw", "zh-hant", "zh-mo") or lowered.startswith("zh-hant"):
            return "zh-HK"
        if lowered in ("zh", "zh-cn", "zh-sg", "zh-hans") or lowered.startswith("zh-hans"):
            return "zh-CN"
        if lowered.startswith("en"):
            return "en"
    return DEFAULT


def translate(language: str, key: str) -> str:
    return _MESSAGES[key][_INDEX.get(language, 0)]


def message_keys() -> list[str]:
    return list(_MESSAGES)
