//! 日本語 (Japanese): the same keys as `en.rs`, in the same order (a test checks both).

pub const TABLE: &[(&str, &str)] = &[
    // Sign-in
    ("sign_in.title", "サインイン"),
    ("sign_in.continue_to", "{app} に進みます"),
    ("sign_in.identifier", "ユーザー名またはメールアドレス"),
    ("sign_in.password", "パスワード"),
    ("sign_in.submit", "サインイン"),
    (
        "sign_in.wrong_credentials",
        "ユーザー名、メールアドレス、またはパスワードが正しくありません。",
    ),
    (
        "sign_in.throttled.one",
        "サインインの失敗が続いたため、一時的に制限しています。{minutes} 分後にもう一度お試しください。",
    ),
    (
        "sign_in.throttled.other",
        "サインインの失敗が続いたため、一時的に制限しています。{minutes} 分後にもう一度お試しください。",
    ),
    ("sign_in.continue_with", "{provider} で続ける"),
    // Consent
    ("consent.title", "{app} を許可"),
    (
        "consent.wants",
        "{app} があなたのアカウントへのアクセスを求めています。",
    ),
    ("consent.signed_in_as", "{account} としてサインイン中"),
    ("consent.not_you", "別のアカウントを使う"),
    ("consent.will_allow", "{app} に次のことを許可します:"),
    ("consent.your_account", "あなたのアカウント"),
    ("consent.organization", "あなたの組織"),
    ("consent.organization.choose", "組織を選んでください"),
    ("consent.organization.one", "組織: {organization}"),
    ("consent.authorize", "許可する"),
    ("consent.cancel", "キャンセル"),
    (
        "consent.legal",
        "{app} はあなたのデータを独自の規約に基づいて扱います:",
    ),
    ("consent.terms_of_use", "利用規約"),
    ("consent.privacy_policy", "プライバシーポリシー"),
    ("consent.opens_in_new_tab", "(新しいタブで開きます)"),
    // What each user scope lets the application do.
    ("scope.openid", "あなたのアカウントでサインインする"),
    ("scope.profile", "名前とユーザー名を見る"),
    ("scope.email", "メールアドレスを見る"),
    ("scope.phone", "電話番号を見る"),
    ("scope.address", "住所を見る"),
    (
        "scope.offline_access",
        "あなたが利用していない間もアクセスを続ける",
    ),
    ("scope.organizations", "あなたが所属する組織を見る"),
    ("scope.other", "「{scope}」の権限を使う"),
    // Sign-out
    ("sign_out.title", "サインアウト"),
    (
        "sign_out.app_asks",
        "{app} が Sigil からのサインアウトを求めています。",
    ),
    ("sign_out.question", "Sigil からサインアウトしますか?"),
    ("sign_out.submit", "サインアウト"),
    (
        "sign_out.stay",
        "サインインしたままにする場合は、このページを閉じてください。",
    ),
    ("signed_out.title", "サインアウトしました"),
    ("signed_out.heading", "サインアウトしました"),
    (
        "signed_out.body",
        "Sigil からサインアウトしました。お使いのアプリケーションでは、それぞれからサインアウトするまでサインインしたままになることがあります。",
    ),
    (
        "signed_out.return",
        "このページを閉じて {app} に戻ってください。",
    ),
    ("signed_out.close", "このページは閉じてかまいません。"),
    // Errors: a title and a plain explanation of what to do next.
    ("error.request_id", "リクエスト ID"),
    ("error.details", "詳細:"),
    ("error.not_found.title", "ページが見つかりません"),
    (
        "error.not_found.message",
        "このアドレスには何もありません。たどったリンクを確認してください。",
    ),
    ("error.server.title", "問題が発生しました"),
    (
        "error.server.sign_in",
        "サインインを完了できませんでした。しばらくしてからもう一度お試しください。",
    ),
    (
        "error.server.sign_out",
        "サインアウトを完了できませんでした。しばらくしてからもう一度お試しください。",
    ),
    (
        "error.sign_in_expired.title",
        "このサインインは有効期限が切れています",
    ),
    (
        "error.sign_in_expired.message",
        "アプリケーションに戻り、もう一度サインインしてください。",
    ),
    (
        "error.request_expired.title",
        "このリクエストは有効期限が切れています",
    ),
    (
        "error.request_expired.message",
        "アプリケーションに戻り、もう一度やり直してください。",
    ),
    (
        "error.sign_out_expired.title",
        "このサインアウトは有効期限が切れています",
    ),
    (
        "error.sign_out_expired.message",
        "アプリケーションに戻り、もう一度サインアウトしてください。",
    ),
    (
        "error.bad_sign_in.title",
        "このサインインのリンクは使えません",
    ),
    (
        "error.bad_sign_in.message",
        "アプリケーションから Sigil が受け付けられないサインインのリクエストが届きました。繰り返し起こる場合は、下の詳細をアプリケーションの開発者に伝えてください。",
    ),
    (
        "error.bad_sign_out.title",
        "このサインアウトのリクエストは使えません",
    ),
    (
        "error.bad_sign_out.message",
        "アプリケーションから Sigil が読み取れないサインアウトのリクエストが届きました。サインインしたままです。",
    ),
    (
        "error.bad_sign_out.unverified_hint",
        "アプリケーションが Sigil で検証できないトークンでサインアウトを求めました。サインインしたままです。",
    ),
    (
        "error.bad_sign_out.client_mismatch",
        "サインアウトのリクエストで、トークンと client_id が別々のアプリケーションを指しています。サインインしたままです。",
    ),
    (
        "error.upstream.title",
        "そのプロバイダーでサインインできませんでした",
    ),
    (
        "error.upstream.refused",
        "プロバイダーからの応答を受け入れられなかったため、サインインしていません。アプリケーションに戻り、もう一度お試しください。繰り返し起こる場合は、下の詳細をアプリケーションのサポートに伝えてください。",
    ),
    (
        "error.upstream.unavailable",
        "プロバイダーに接続できないか、サインインが完了しませんでした。アプリケーションに戻り、数分後にもう一度お試しください。",
    ),
    (
        "error.upstream.expired",
        "このプロバイダーでのサインインはすでに使われたか、時間がかかりすぎました。アプリケーションに戻り、最初からやり直してください。",
    ),
];
