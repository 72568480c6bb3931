"""The scheduled sync (docs/SYNC.md).

- `settings_checks`, `settings_document`: the settings document's metadata checks, what a saved
  change starts, and its PUT.
- `models`, `people`, `intake`: the platform's requests (enqueue, changes, links).
- `runs`: queueing, the schedule, the `sync-runs` worker; `push` and `pull` are a run's two halves.
- `selection`, `messages`: what a pull reads, and the `platform-updates` messages (pure).
"""
