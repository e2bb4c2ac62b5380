"""The sandbox portal's own text in English, Traditional and Simplified Chinese (merged into ``i18n``)."""

from __future__ import annotations

# key: (en, zh-HK, zh-CN)
PORTAL_MESSAGES: dict[str, tuple[str, str, str]] = {
    "sandbox_portal": ("Service providers' sandbox", "服務提供者沙盒", "服务提供者沙盒"),
    "sandbox_intro": (
        "Departments, public bodies and companies put their services online here: join the programme, write "
        "your service in the definitions language, preview it and test it end to end with synthetic citizens. "
        "Nothing in a sandbox touches real data or anyone else's sandbox.",
        "政府部門、公營機構及企業可在此把服務上線：加入計劃、以定義語言編寫服務，並以模擬市民預覽及全面測試。"
        "沙盒內的一切絕不接觸真實資料或其他人的沙盒。",
        "政府部门、公营机构及企业可在此把服务上线：加入计划、以定义语言编写服务，并以模拟市民预览及全面测试。"
        "沙盒内的一切绝不接触真实资料或其他人的沙盒。",
    ),
    "join_programme": ("Join the programme", "加入計劃", "加入计划"),
    "join_intro": (
        "Apply online. The platform team reviews your application; approval sets up your sandbox.",
        "網上申請。平台團隊會審核你的申請，獲批後即設立你的沙盒。",
        "网上申请。平台团队会审核你的申请，获批后即设立你的沙盒。",
    ),
    "my_sandbox": ("My sandbox", "我的沙盒", "我的沙盒"),
    "my_sandbox_intro": (
        "Your provider id, sign-in client, test citizens and the services you uploaded.",
        "你的提供者編號、登入用戶端、測試市民及已上載的服務。",
        "你的提供者编号、登录客户端、测试市民及已上载的服务。",
    ),
    "getting_started": ("Getting started", "入門指南", "入门指南"),
    "guide_intro": (
        "From joining to an application submitted in your sandbox, in six steps.",
        "由加入計劃到在沙盒中遞交申請，只需六個步驟。",
        "由加入计划到在沙盒中递交申请，只需六个步骤。",
    ),
    "provider_only": (
        "This page is for a sandbox provider's staff. Sign in with the staff login of your sandbox.",
        "此頁只供沙盒服務提供者的職員使用，請以沙盒職員帳戶登入。",
        "此页只供沙盒服务提供者的职员使用，请以沙盒职员账户登录。",
    ),
    "platform_only": ("This page is for the platform team.", "此頁只供平台團隊使用。", "此页只供平台团队使用。"),
    "platform_inbox": ("Applications to join (platform team)", "加入申請（平台團隊）", "加入申请（平台团队）"),
    "provider_id": ("Provider id", "提供者編號", "提供者编号"),
    "namespace": ("Namespace", "命名空間", "命名空间"),
    "client_id": ("OIDC client id", "OIDC 用戶端編號", "OIDC 客户端编号"),
    "redirect_uris": ("Registered redirect URIs", "已登記的重新導向網址", "已登记的重新导向网址"),
    "client_secret_note": (
        "Your client secret is shown only when it is issued. Issue a new one if you do not have it; the old one "
        "stops working at once.",
        "用戶端密碼只會在發出時顯示。如你沒有密碼，可發出新密碼；舊密碼會即時失效。",
        "客户端密码只会在发出时显示。如你没有密码，可发出新密码；旧密码会即时失效。",
    ),
    "rotate_client_secret": ("Issue a new client secret", "發出新的用戶端密碼", "发出新的客户端密码"),
    "new_client_secret": ("Your new client secret", "你的新用戶端密碼", "你的新客户端密码"),
    "new_client_secret_note": (
        "Copy it into your app now: it will not be shown again.",
        "請立即複製到你的應用程式：此密碼不會再次顯示。",
        "请立即复制到你的应用程序：此密码不会再次显示。",
    ),
    "sandbox_services": ("Your services", "你的服務", "你的服务"),
    "versions": ("Versions of your sandbox catalogue", "沙盒服務目錄的版本", "沙盒服务目录的版本"),
    "no_versions": ("Nothing uploaded yet.", "尚未上載任何定義檔。", "尚未上载任何定义档。"),
    "test_citizens": ("Test citizens", "測試市民", "测试市民"),
    "test_citizens_note": (
        "Synthetic people, one per age group, with test face samples. Sign in as one of them to test your services.",
        "每個年齡組別各一名模擬人士，附測試樣本臉容。以他們的身份登入即可測試你的服務。",
        "每个年龄组别各一名模拟人士，附测试样本脸容。以他们的身份登录即可测试你的服务。",
    ),
    "sandbox_staff": ("Your staff sign-ins", "你的職員帳戶", "你的职员账户"),
    "login": ("Login", "登入名稱", "登录名称"),
    "name": ("Name", "姓名", "姓名"),
    "upload_definitions": ("Upload definitions", "上載定義檔", "上载定义档"),
    "upload_intro": (
        "Upload one service YAML file, or a zip with services/…, fragments/… and option-lists.yaml. "
        "It is checked exactly as onestop validate checks it; a valid upload becomes a new version of "
        "your sandbox catalogue only.",
        "上載一個服務 YAML 檔，或載有 services/…、fragments/… 及 option-lists.yaml 的 zip 檔。"
        "檢查方式與 onestop validate 完全相同；有效的上載只會成為你沙盒服務目錄的新版本。",
        "上载一个服务 YAML 档，或载有 services/…、fragments/… 及 option-lists.yaml 的 zip 档。"
        "检查方式与 onestop validate 完全相同；有效的上载只会成为你沙盒服务目录的新版本。",
    ),
    "definitions_file": ("Definitions file", "定義檔", "定义档"),
    "definitions_file_hint": ("A .yaml file or a .zip", ".yaml 檔或 .zip 檔", ".yaml 档或 .zip 档"),
    "upload": ("Upload", "上載", "上载"),
    "choose_file": ("Choose a file to upload.", "請選擇要上載的檔案。", "请选择要上载的档案。"),
    "upload_too_large": ("The file is too large.", "檔案太大。", "档案太大。"),
    "upload_problems": ("The upload has problems", "上載的檔案有問題", "上载的档案有问题"),
    "upload_accepted": ("Uploaded: sandbox catalogue version", "已上載：沙盒服務目錄版本", "已上载：沙盒服务目录版本"),
    "hint": ("Hint", "提示", "提示"),
    "included_from": ("included from", "引入自", "引入自"),
    "preview": ("Preview", "預覽", "预览"),
    "preview_note": (
        "Every step as a citizen sees it, in each language. Nothing is started.",
        "以市民所見的形式，用各種語言顯示每個步驟，不會開始任何申請。",
        "以市民所见的形式，用各种语言显示每个步骤，不会开始任何申请。",
    ),
    "all_steps": ("All steps", "所有步驟", "所有步骤"),
    "test_application": ("Start a test application", "開始測試申請", "开始测试申请"),
    "test_application_note": (
        "Test applications are made by your sandbox's test citizens and reach your sandbox's inbox only.",
        "測試申請由你沙盒的測試市民提出，只會送到你沙盒的收件匣。",
        "测试申请由你沙盒的测试市民提出，只会送到你沙盒的收件匣。",
    ),
    "sign_in_test_citizen": ("Sign in as a test citizen", "以測試市民身份登入", "以测试市民身份登录"),
    "test_citizens_only": (
        "Only your sandbox's test citizens can start its services.",
        "只有你沙盒的測試市民才可開始其服務。",
        "只有你沙盒的测试市民才可开始其服务。",
    ),
    "definitions_reference": ("Definitions reference", "定義語言參考", "定义语言参考"),
    "graphql_reference": ("GraphQL reference", "GraphQL 參考", "GraphQL 参考"),
    "sandbox_news": ("Sandbox programme news", "沙盒計劃消息", "沙盒计划消息"),
    "atom_feed": ("Subscribe (Atom feed)", "訂閱（Atom 資訊提供）", "订阅（Atom 资讯提供）"),
    "guide_example": ("A first service", "第一個服務", "第一个服务"),
    "guide_example_note": (
        "Save this as parking-permit.yaml, put your namespace after department:, and upload it.",
        "把以下內容存為 parking-permit.yaml，在 department: 後填上你的命名空間，然後上載。",
        "把以下内容存为 parking-permit.yaml，在 department: 后填上你的命名空间，然后上载。",
    ),
    "guide_1_title": ("Apply to join", "申請加入", "申请加入"),
    "guide_1_body": (
        "Choose Join the programme, sign in, and tell us about your organisation, your contact, the "
        "services you plan, the redirect URIs of your sign-in app and your staff. Send it.",
        "選擇「加入計劃」並登入，填寫你的機構、聯絡人、計劃提供的服務、登入應用程式的重新導向網址及職員資料，然後遞交。",
        "选择「加入计划」并登录，填写你的机构、联络人、计划提供的服务、登录应用程序的重新导向网址及职员资料，然后递交。",
    ),
    "guide_2_title": ("The platform team approves", "平台團隊批核", "平台团队批核"),
    "guide_2_body": (
        "Your application lands in the platform team's inbox. Approval provisions your sandbox: a "
        "provider id and namespace, an OIDC client with your exact redirect URIs, sign-ins for your "
        "staff and synthetic test citizens of every age group.",
        "你的申請會送到平台團隊的收件匣。獲批後即設立你的沙盒：提供者編號及命名空間、"
        "只登記你所填重新導向網址的 OIDC 用戶端、"
        "職員帳戶，以及各年齡組別的模擬測試市民。",
        "你的申请会送到平台团队的收件匣。获批后即设立你的沙盒：提供者编号及命名空间、"
        "只登记你所填重新导向网址的 OIDC 客户端、"
        "职员账户，以及各年龄组别的模拟测试市民。",
    ),
    "guide_3_title": ("Sign in to My sandbox", "登入「我的沙盒」", "登录「我的沙盒」"),
    "guide_3_body": (
        "Sign in with your sandbox staff login and open My sandbox: it shows your provider id, "
        "namespace, client id, test citizens and services.",
        "以沙盒職員帳戶登入並開啟「我的沙盒」，即可查看提供者編號、命名空間、用戶端編號、測試市民及服務。",
        "以沙盒职员账户登录并开启「我的沙盒」，即可查看提供者编号、命名空间、客户端编号、测试市民及服务。",
    ),
    "guide_4_title": ("Write your service", "編寫你的服務", "编写你的服务"),
    "guide_4_body": (
        "Describe the service in YAML (see the definitions reference and the example below). Its "
        "department is your sandbox's namespace.",
        "以 YAML 描述服務（參閱定義語言參考及下面的例子），department 填上你沙盒的命名空間。",
        "以 YAML 描述服务（参阅定义语言参考及下面的例子），department 填上你沙盒的命名空间。",
    ),
    "guide_5_title": ("Upload and fix", "上載及修正", "上载及修正"),
    "guide_5_body": (
        "Choose Upload definitions and upload the file. Any problem is listed as file:line:col with "
        "a hint; fix it and upload again until it is accepted as a new version.",
        "選擇「上載定義檔」並上載檔案。問題會以「檔案:行:欄」連同提示列出；修正後再次上載，直至成為新版本。",
        "选择「上载定义档」并上载档案。问题会以「档案:行:栏」连同提示列出；修正后再次上载，直至成为新版本。",
    ),
    "guide_6_title": ("Preview and test", "預覽及測試", "预览及测试"),
    "guide_6_body": (
        "Preview shows every step in English, Traditional and Simplified Chinese. Then sign in as "
        "one of your test citizens, start a test application and complete it: it reaches your "
        "sandbox's inbox as submitted.",
        "「預覽」以英文、繁體及簡體中文顯示每個步驟。然後以測試市民身份登入，開始並完成測試申請，申請會以已遞交狀態送到你沙盒的收件匣。",
        "「预览」以英文、繁体及简体中文显示每个步骤。然后以测试市民身份登录，开始并完成测试申请，申请会以已递交状态送到你沙盒的收件匣。",
    ),
}
