"""Which stored theme labels a reader may be shown.

A rebuild labels each theme from the factors of postmortems that were internal then (or, when
it has none, marks the label private). A label shown to someone must come only from factors
they may see, so at read time a theme's stored label and terms are withheld from a reader
when it is private, or when one of the theme's postmortems has since become one they may not
see (made restricted after the rebuild): pages then label the theme from the factors the
reader may see (kb.insights.themes), or do not name it. Cheap: it reads only the audit
events of visibility changes since the rebuild.
"""

from datetime import timedelta

from sqlalchemy import not_
from sqlmodel import select

from kb import accounts
from kb.models import AuditEvent, Postmortem, PostmortemTerm, Theme, ThemeRun

# A change saved while a rebuild was reading may not be in it: count it as after the rebuild.
MARGIN = timedelta(seconds=60)


def hidden_labels(session, user, theme_ids):
    """The ids among `theme_ids` whose stored label and terms `user` (or a Scope) may not be
    shown."""
    theme_ids = list(theme_ids)
    if not theme_ids:
        return set()
    hidden = set(
        session.exec(
            select(Theme.id).where(Theme.id.in_(theme_ids), Theme.private_label.is_(True))
        ).all()
    )
    scope = user if isinstance(user, accounts.Scope) else accounts.scope_of(user)
    run = session.exec(select(ThemeRun).order_by(ThemeRun.id.desc()).limit(1)).first()
    if scope.everything or run is None:
        return hidden
    # Postmortems whose visibility changed since the rebuild began (the audit log records
    # every change of visibility with its time) and that `user` may not see now: an internal
    # postmortem becomes unseen only so. Their theme memberships at the rebuild are their
    # `theme:<id>` entries in the similar-incidents index, which (unlike the membership rows,
    # which go with the factors when a postmortem is saved) stay until the next rebuild.
    since = run.built_at - timedelta(seconds=run.seconds) - MARGIN
    entries = session.exec(
        select(PostmortemTerm.term)
        .select_from(AuditEvent)
        .join(Postmortem, Postmortem.ref == AuditEvent.ref)
        .join(PostmortemTerm, PostmortemTerm.postmortem_id == Postmortem.id)
        .where(
            AuditEvent.action == "visibility",
            AuditEvent.at >= since,
            Postmortem.visibility == "restricted",
            not_(accounts.visibility_filter(scope)),
            PostmortemTerm.term.startswith("theme:"),
        )
        .distinct()
    ).all()
    wanted = set(theme_ids)
    for term in entries:
        theme_id = int(term.split(":", 1)[1])
        if theme_id in wanted:
            hidden.add(theme_id)
    return hidden
