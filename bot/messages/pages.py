"""The small HTML pages of the OAuth callback, in words a non-technical person understands."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from bot.connections import Connected, Failure, NotConnected
from bot.messages.connect import GENERIC_ACCOUNT_ADVICE, PERMISSIONS_URL, WORKSPACE_TIP
from bot.messages.health import SCOPE_WORDS
from storage.models import ConnectionKind

AGAIN = "To try again, mention <code>@Tonomo connect-calendar</code> in your Slack channel for a fresh link."


@dataclass(frozen=True)
class Page:
    status: int
    title: str
    html: str


FAILURES: dict[Failure, tuple[int, str, str]] = {
    Failure.DENIED: (
        200,
        "No calendar was connected",
        "You chose not to give access, so nothing was connected and nothing changed. " + AGAIN,
    ),
    Failure.GOOGLE_ERROR: (
        400,
        "Google stopped the sign-in",
        "Google ended the sign-in before it finished, so nothing was connected. " + AGAIN,
    ),
    Failure.MISSING_STATE: (
        400,
        "This link is incomplete",
        "This page was opened without the details Google normally adds, so nothing was connected. "
        + AGAIN,
    ),
    Failure.UNKNOWN_STATE: (
        400,
        "This sign-in link isn't recognised",
        "This link doesn't match any sign-in we started, so nothing was connected. " + AGAIN,
    ),
    Failure.EXPIRED_STATE: (
        400,
        "This sign-in link has expired",
        "Sign-in links work for 10 minutes, and this one is older, so nothing was connected. "
        + AGAIN,
    ),
    Failure.USED_STATE: (
        400,
        "This sign-in link was already used",
        "Each link works once. If you already finished signing in, your calendar is connected: "
        "<code>@Tonomo status</code> in Slack shows it. Otherwise: " + AGAIN,
    ),
    Failure.MISSING_CODE: (
        400,
        "Google didn't finish the sign-in",
        "Google sent you back without the sign-in code, so nothing was connected. " + AGAIN,
    ),
    Failure.EXCHANGE_FAILED: (
        502,
        "Google didn't accept the sign-in",
        "Google didn't confirm the sign-in, so nothing was connected. " + AGAIN,
    ),
    Failure.PERMISSION_UNTICKED: (
        400,
        "A permission was left unticked",
        "Google's page has a box for each thing the bot needs, and one was left unticked, so "
        "nothing was connected. Connect again and tick every box. " + AGAIN,
    ),
    Failure.ACCOUNT_UNREADABLE: (
        502,
        "We couldn't read your calendar",
        "You signed in, but Google didn't let us read your calendar, so nothing was connected. "
        + WORKSPACE_TIP
        + " "
        + AGAIN,
    ),
}


def _document(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{escape(title, quote=False)} · Tonomo</title>
<style>
  body {{ font-family: -apple-system, "Segoe UI", Roboto, sans-serif; background: #f6f6f8;
         color: #1d1c1d; margin: 0; padding: 48px 16px; }}
  main {{ max-width: 520px; margin: 0 auto; background: #fff; border-radius: 12px;
         padding: 32px; box-shadow: 0 1px 3px rgba(0,0,0,.12); line-height: 1.5; }}
  h1 {{ font-size: 1.4rem; margin-top: 0; }}
  code {{ background: #f1f1f3; padding: 1px 5px; border-radius: 4px; }}
  .note {{ background: #fff8e1; border-radius: 8px; padding: 12px 16px; }}
</style>
</head>
<body><main>
<h1>{escape(title, quote=False)}</h1>
{body}
</main></body>
</html>
"""


def build_callback_page(outcome: Connected | NotConnected) -> Page:
    if isinstance(outcome, NotConnected):
        status, title, text = FAILURES[outcome.failure]
        return Page(status, title, _document(title, f"<p>{text}</p>"))
    if outcome.missing_scopes:
        return _missing_permission_page(outcome)
    email = escape(outcome.account_email, quote=False)
    name = escape(outcome.person_name, quote=False) if outcome.person_name else None
    notes = []
    if outcome.kind is ConnectionKind.PRIMARY:
        title = "The primary calendar is connected"
        what = f"<p><strong>{email}</strong> is now the business's primary calendar"
        what += f", connected with {name}'s sign-in link.</p>" if name else ".</p>"
    else:
        title = f"Calendar connected for {name}" if name else "Your calendar is connected"
        whose = (
            f"<strong>{name}</strong>'s calendar"
            if name
            else "the calendar of the person who asked for this link in Slack"
        )
        what = (
            f"<p><strong>{email}</strong> is now connected as {whose}. Their team can see when "
            "they're free, never what their events are.</p>"
        )
        not_them = (
            f"Not {name}? This sign-in link was made for them, so your calendar has taken their "
            f"place. Tell them: <code>@Tonomo disconnect</code> in Slack removes it, and "
            f'<a href="{PERMISSIONS_URL}">your Google account\'s permissions page</a> removes the '
            "access you gave."
        )
        if name and outcome.may_be_someone_elses:
            notes.append(not_them)
        elif name:
            what += f"<p>{not_them}</p>"
    if outcome.looks_personal:
        notes.append(
            f"{email} looks like a person's address. {escape(GENERIC_ACCOUNT_ADVICE, quote=False)}"
        )
    body = what + "".join(f'<p class="note">{n}</p>' for n in notes)
    body += "<p>You can close this tab and go back to Slack.</p>"
    return Page(200, title, _document(title, body))


def _missing_permission_page(outcome: Connected) -> Page:
    """Signed in, but a box was left unticked: connected, and not usable until it is ticked."""
    email = escape(outcome.account_email, quote=False)
    if outcome.kind is ConnectionKind.PRIMARY:
        title = "The primary calendar can't be used yet: a permission is missing"
        command = "@Tonomo connect-calendar primary"
    else:
        title = "Your calendar can't be used yet: a permission is missing"
        command = "@Tonomo connect-calendar"
    boxes = " and ".join(
        f"“{escape(SCOPE_WORDS.get(scope, scope), quote=False)}”"
        for scope in outcome.missing_scopes
    )
    box, was = ("boxes", "were") if len(outcome.missing_scopes) > 1 else ("box", "was")
    body = (
        f"<p>You signed in as <strong>{email}</strong>, but on Google's page the {box} "
        f"{boxes} {was} left unticked, so the bot can't use this calendar yet.</p>"
        f'<p class="note">To fix it, mention <code>{command}</code> in your Slack channel for a '
        "fresh link, sign in again and tick every box, that one included.</p>"
        "<p>You can close this tab and go back to Slack.</p>"
    )
    return Page(200, title, _document(title, body))


def build_trouble_page() -> Page:
    title = "Something went wrong on our side"
    text = (
        "We couldn't finish connecting your calendar just now, and nothing was changed. "
        "Please try again in a few minutes: " + AGAIN
    )
    return Page(503, title, _document(title, f"<p>{text}</p>"))
