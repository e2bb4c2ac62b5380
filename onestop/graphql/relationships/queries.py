"""Staff queries of the relationships domain: the guardianships the department recorded."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from onestop.graphql.context import Info_
from onestop.graphql.errors import Unauthenticated
from onestop.graphql.fields import field
from onestop.graphql.relationships.types import Guardianship


@strawberry.type
class RelationshipsQuery:
    @field(description="Every guardianship SWD recorded, newest first (SWD staff with the approver role only; "
                       "FORBIDDEN for anyone else).")
    async def guardianships(self, info: Info_) -> list[Guardianship]:
        principal = await info.context.principal()
        if principal is None:
            raise Unauthenticated()
        now = datetime.now(UTC)
        return [Guardianship(record=g, now=now)
                for g in await info.context.engine.relationships.guardians.recorded(principal)]
