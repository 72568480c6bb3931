"""Many steps at once: chunked look-ups and `$batch` writes, over `shared.dynamics`.

- `BulkLookup` collects the look-ups of many steps and answers each with the rows it would
  have got alone: person look-ups become chunked `Microsoft.Dynamics.CRM.In` queries, identical
  queries are sent once, and everything goes in `$batch` GETs.
- `write_all` applies many writes in `$batch` change sets; a failed change set is split so one
  bad record cannot sink the others, and throttling is waited out (`Pacer`), never reported as
  a write's failure.

Nothing here knows what a journey step is: the journey batch (`shared.journey_batch`) and the
campaign export use it the same way.
"""

from shared.bulk.lookups import BulkLookup, LookupHandle
from shared.bulk.pacing import DeadlineReached, Pacer
from shared.bulk.writes import WriteOutcome, write_all

__all__ = ["BulkLookup", "DeadlineReached", "LookupHandle", "Pacer", "WriteOutcome", "write_all"]
