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
    "pay_amount": ("Amount to pay", "應繳金額", "应缴金额"),
    "pay_button": ("Pay", "付款", "付款"),
    "pay_text": ("You will pay on the payment provider's page (FPS, PPS or card), then come back here.",
                 "你將在付款服務的網頁上付款（轉數快、繳費靈或信用卡），然後返回此處。",
                 "你将在付款服务的网页上付款（转数快、缴费灵或信用卡），然后返回此处。"),
    "pay_pending": ("We are waiting for the payment provider to confirm your payment. Refresh this page in a "
                    "moment; if you left the payment page, you can open it again.",
                    "我們正在等待付款服務確認你的付款。請稍後重新載入此頁；如你已離開付款頁面，可再次開啟。",
                    "我们正在等待付款服务确认你的付款。请稍后重新载入此页；如你已离开付款页面，可再次打开。"),
    "pay_failed": ("Your last payment did not go through. Nothing was charged; you can try again.",
                   "你上次的付款未能完成，未有收取任何款項；你可以再試。",
                   "你上次的付款未能完成，未有收取任何款项；你可以再试。"),
    "check_answers": ("Check your answers before sending", "遞交前請核對你的答案", "递交前请核对你的答案"),
    "change": ("Change", "更改", "更改"),
    "office": ("Office", "辦事處", "办事处"),
    "appointment_day": ("Day", "日期", "日期"),
    "show_times": ("Show times", "顯示時間", "显示时间"),
    "choose_time": ("Choose a time", "請選擇時間", "请选择时间"),
    "no_times": ("No times are free at this office on this day. Choose another day or office.",
                 "此辦事處當日沒有可預約時間，請選擇其他日期或辦事處。",
                 "此办事处当日没有可预约时间，请选择其他日期或办事处。"),
    "places_left": ("places left", "個名額", "个名额"),
    "book": ("Book this time", "預約此時間", "预约此时间"),
    "your_appointment": ("Your appointment", "你的預約", "你的预约"),
    "appointment": ("Appointment", "預約", "预约"),
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
    "operations": ("Operations", "運作監察", "运作监察"),
    "operator_only": ("This page is for staff with the operator role.", "此頁只供具備運作監察職能的職員使用。",
                      "此页只供具备运作监察职能的职员使用。"),
    "security_alerts": ("Security alerts", "保安警示", "安全警示"),
    "severity": ("Severity", "嚴重程度", "严重程度"),
    "series": ("Affects", "涉及對象", "涉及对象"),
    "explanation": ("Explanation", "說明", "说明"),
    "features": ("Deviating measures", "偏離的指標", "偏离的指标"),
    "observed": ("observed", "實際", "实际"),
    "expected": ("expected", "預期", "预期"),
    "threshold": ("threshold", "門檻", "门槛"),
    "actions": ("Actions", "操作", "操作"),
    "acknowledge": ("Acknowledge", "確認收悉", "确认收悉"),
    "resolve": ("Resolve", "標示為已解決", "标示为已解决"),
    "note": ("Note", "備註", "备注"),
    "no_alerts": ("No alerts match.", "沒有相符的警示。", "没有相符的警示。"),
    "system_health": ("System health", "系統狀況", "系统状况"),
    "catalogue_version": ("Catalogue version", "服務目錄版本", "服务目录版本"),
    "temporal_reachable": ("Workflow engine reachable", "工作流程引擎可連線", "工作流程引擎可连线"),
    "worker_backlog": ("Tasks waiting", "待處理工作", "待处理工作"),
    "delivery_failures": ("Failed deliveries (24 hours)", "傳送失敗（24小時）", "传送失败（24小时）"),
    "open_alerts": ("Open alerts", "未處理警示", "未处理警示"),
    "citizens_disowned": ("Citizens who said it was not them", "表示並非本人的市民", "表示并非本人的市民"),
    "unknown": ("Unknown", "不詳", "不详"),
    "your_alerts": ("Security alerts about your account", "有關你帳戶的保安警示", "有关你账户的安全警示"),
    "raised": ("Raised", "發出時間", "发出时间"),
    "your_answer": ("Your answer", "你的回覆", "你的回复"),
    "was_me": ("This was me", "這是我本人", "这是我本人"),
    "was_not_me": ("This wasn't me", "這不是我", "这不是我"),
    "answer_WAS_ME": ("You told us this was you.", "你已回覆這是你本人。", "你已回复这是你本人。"),
    "answer_WAS_NOT_ME": ("You told us this wasn't you.", "你已回覆這不是你。", "你已回复这不是你。"),
    "choose_answer": ("Choose whether this was you.", "請選擇這是否你本人。", "请选择这是否你本人。"),
    "alert_answered": ("Thank you. We have recorded your answer.", "謝謝，我們已記錄你的回覆。",
                       "谢谢，我们已记录你的回复。"),
    "from_source": ("From", "資料來源：", "资料来源："),
    "verified": ("verified", "已核實", "已核实"),
    "verified_readonly": ("A verified record: you cannot change it here.", "已核實的記錄，不能在此更改。",
                          "已核实的记录，不能在此更改。"),
    "changed_by_you": ("changed by you", "已由你更改", "已由你更改"),
    "if_applies": ("only if it applies to you", "只在適用時填寫", "只在适用时填写"),
    "consent_to": ("Who will receive your data", "誰會收到你的資料", "谁会收到你的资料"),
    "consent_items": ("The data concerned", "涉及的資料", "涉及的资料"),
    "checks": ("What we will check (only yes or no is shared)", "我們會核對的事項（只會分享「是」或「否」）",
               "我们会核对的事项（只会分享「是」或「否」）"),
    "computed": ("Worked out from your answers", "根據你的答案計算", "根据你的答案计算"),
    "progress": ("Your progress", "你的進度", "你的进度"),
    "step_DONE": ("completed", "已完成", "已完成"),
    "step_CURRENT": ("current step", "目前步驟", "目前步骤"),
    "step_TODO": ("not completed", "未完成", "未完成"),
    "conditional_step": ("Only if it applies to you.", "只在適用時需要。", "只在适用时需要。"),
    "received": ("Received, being processed", "已收到，處理中", "已收到，处理中"),
    "delivery_failed": ("We could not deliver this application to the department yet. It is kept safe; an "
                        "operator can deliver it again once the cause is fixed.",
                        "暫時未能把此申請送交部門。申請已妥善保存，待問題解決後，運作人員可再次送交。",
                        "暂时未能把此申请送交部门。申请已妥善保存，待问题解决后，运作人员可再次送交。"),
    "redeliver": ("Deliver again", "再次送交", "再次送交"),
    "redelivered": ("Sent to the department again.", "已再次送交部門。", "已再次送交部门。"),
    "data_access_revoked": ("Consent revoked: no one can read this data under it any more.",
                            "已撤回同意：再沒有人可按此同意讀取資料。", "已撤回同意：再没有人可按此同意读取资料。"),
    "recipient": ("Receives it", "接收部門", "接收部门"),
    "consent_ref": ("Consent", "同意", "同意"),
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


def _with_portal() -> None:
    from onestop.web.portal_text import PORTAL_MESSAGES

    clashes = set(PORTAL_MESSAGES) & set(_MESSAGES)
    if clashes:
        raise RuntimeError(f"the portal's text keys clash with the app's: {sorted(clashes)}")
    _MESSAGES.update(PORTAL_MESSAGES)


_with_portal()
