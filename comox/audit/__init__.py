"""The audit log: one hash-chained record per inference request, content under envelope
encryption, signed checkpoints, erasure by crypto-shredding, subject export and search.

Modules: `record` (what a record says), `chain` (linking and verifying, pure), `crypto`
(master key providers, sealing), `keyring` (a content key per subject), `writer` (the
process that appends, in group commits), `pipe` (the worker's end of it), `frames` (their
wire), `stage` (the request-path hooks), `log` (assembly), `operations` (search, export,
erase, verify for the CLI and admin API), `jsonl` (the shipping sink).
"""
