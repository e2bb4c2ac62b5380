"""The notices domain: viewer's notice preferences (noticePreferences, setNoticePreferences); Application.notices."""

from onestop.graphql.notices.mutations import NoticeMutation as Mutation
from onestop.graphql.notices.queries import NoticeQuery as Query

__all__ = ["Mutation", "Query"]
